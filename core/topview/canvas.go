package topview

import (
	"unicode"
	"unicode/utf8"

	"github.com/gdamore/tcell/v2"
)

// Styles of the dashboard. Colours are kept to a few accents so the screen stays readable
// on light and dark terminals and on monochrome ones (bold/reverse still show).
var (
	styleNormal = tcell.StyleDefault
	styleBold   = tcell.StyleDefault.Bold(true)
	styleDim    = tcell.StyleDefault.Dim(true)
	styleBar    = tcell.StyleDefault.Reverse(true)
	styleBanner = tcell.StyleDefault.Background(tcell.ColorMaroon).Foreground(tcell.ColorWhite).Bold(true)
	styleWarn   = tcell.StyleDefault.Foreground(tcell.ColorOlive).Bold(true)
	styleChart  = tcell.StyleDefault.Foreground(tcell.ColorTeal)
)

// canvas draws text into a screen, clipping at its edges.
type canvas struct {
	s    tcell.Screen
	w, h int
}

// width is the number of cells str takes: one per rune, since text is sanitized to
// single-cell characters before it is drawn.
func width(str string) int { return utf8.RuneCountInString(str) }

// cell maps a rune to what is drawn: identities come off the wire and may hold control,
// combining, unassigned or double-width characters, which would move the cursor or break
// the table's alignment.
func cell(r rune) rune {
	if r == utf8.RuneError || !unicode.IsPrint(r) || unicode.In(r, unicode.Mn, unicode.Me) || isWide(r) {
		return '?'
	}
	return r
}

// isWide reports East Asian wide and emoji runes, which take two cells.
func isWide(r rune) bool {
	return r >= 0x1100 && (r <= 0x115f || (r >= 0x2e80 && r <= 0xa4cf) || (r >= 0xac00 && r <= 0xd7a3) ||
		(r >= 0xf900 && r <= 0xfaff) || (r >= 0xfe30 && r <= 0xfe4f) || (r >= 0xff00 && r <= 0xff60) ||
		(r >= 0xffe0 && r <= 0xffe6) || (r >= 0x1f300 && r <= 0x1faff) || (r >= 0x20000 && r <= 0x3fffd))
}

// text draws str at (x, y) using at most maxw cells and returns the cells drawn. Cells are
// written with Put and a slice of str, which costs no allocation per cell (SetContent
// builds a string for every cell).
func (c *canvas) text(x, y int, str string, st tcell.Style, maxw int) int {
	if y < 0 || y >= c.h {
		return 0
	}
	n := 0
	for i := 0; i < len(str); {
		r, size := utf8.DecodeRuneInString(str[i:])
		if n >= maxw || x+n >= c.w {
			break
		}
		if x+n >= 0 {
			g := str[i : i+size]
			if cell(r) != r {
				g = "?"
			}
			c.s.Put(x+n, y, g, st)
		}
		i += size
		n++
	}
	return n
}

// right draws str right-aligned in the field [x, x+w); a longer str keeps its start.
func (c *canvas) right(x, y, w int, str string, st tcell.Style) {
	if pad := w - width(str); pad > 0 {
		x += pad
		w -= pad
	}
	c.text(x, y, str, st, w)
}

// fill paints w cells from (x, y) with the one-character string g.
func (c *canvas) fill(x, y, w int, g string, st tcell.Style) {
	if y < 0 || y >= c.h {
		return
	}
	for i := max(x, 0); i < x+w && i < c.w; i++ {
		c.s.Put(i, y, g, st)
	}
}
