package config

import (
	"fmt"
	"strconv"
	"strings"
)

// pyName is a dotted name in a Python expression, such as sys.stdout.
type pyName string

// parsePyLiteral reads the small subset of Python expressions that logging fileConfig files
// put in handler "args" and "kwargs": tuples, lists, dicts, strings, numbers, True, False,
// None and dotted names (sys.stdout). Python evaluates these with eval(); we only need the
// literals, and refusing anything else keeps a config file from running code.
//
// Results: string, int64, float64, bool, nil, pyName, []any (tuple or list), map[string]any.
func parsePyLiteral(s string) (any, error) {
	p := &pyParser{s: s}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.s) {
		return nil, fmt.Errorf("unexpected %q at offset %d", p.rest(), p.i)
	}
	return v, nil
}

type pyParser struct {
	s string
	i int
}

// maxPyDepth bounds nesting so hostile input cannot exhaust the stack.
const maxPyDepth = 32

func (p *pyParser) rest() string {
	r := p.s[p.i:]
	if len(r) > 20 {
		r = r[:20] + "..."
	}
	return r
}

func (p *pyParser) space() {
	for p.i < len(p.s) && strings.ContainsRune(" \t\r\n", rune(p.s[p.i])) {
		p.i++
	}
}

func (p *pyParser) value(depth int) (any, error) {
	if depth > maxPyDepth {
		return nil, fmt.Errorf("nested too deeply")
	}
	p.space()
	if p.i >= len(p.s) {
		return nil, fmt.Errorf("unexpected end of expression")
	}
	c := p.s[p.i]
	switch {
	case c == '(':
		p.i++
		items, trailingComma, err := p.items(')', depth)
		if err != nil {
			return nil, err
		}
		if len(items) == 1 && !trailingComma {
			return items[0], nil // (x) is just x; (x,) is a tuple
		}
		return items, nil
	case c == '[':
		p.i++
		items, _, err := p.items(']', depth)
		return items, err
	case c == '{':
		p.i++
		return p.dict(depth)
	case c == '\'' || c == '"':
		return p.str()
	case (c == 'r' || c == 'R' || c == 'u' || c == 'U') && p.i+1 < len(p.s) && (p.s[p.i+1] == '\'' || p.s[p.i+1] == '"'):
		raw := c == 'r' || c == 'R'
		p.i++
		if raw {
			return p.rawStr()
		}
		return p.str()
	case c == '-' || c == '+' || c == '.' || c >= '0' && c <= '9':
		return p.number()
	case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		return p.name()
	}
	return nil, fmt.Errorf("unexpected %q at offset %d", p.rest(), p.i)
}

// items reads comma-separated values up to the closing byte.
func (p *pyParser) items(closing byte, depth int) ([]any, bool, error) {
	items := []any{}
	trailing := false
	for {
		p.space()
		if p.i < len(p.s) && p.s[p.i] == closing {
			p.i++
			return items, trailing, nil
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, false, err
		}
		items = append(items, v)
		p.space()
		if p.i >= len(p.s) {
			return nil, false, fmt.Errorf("missing %q", closing)
		}
		switch p.s[p.i] {
		case ',':
			p.i++
			trailing = true
		case closing:
			trailing = false
		default:
			return nil, false, fmt.Errorf("expected ',' or %q at offset %d", closing, p.i)
		}
	}
}

func (p *pyParser) dict(depth int) (any, error) {
	out := map[string]any{}
	for {
		p.space()
		if p.i < len(p.s) && p.s[p.i] == '}' {
			p.i++
			return out, nil
		}
		k, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		key, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("dict keys must be strings")
		}
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return nil, fmt.Errorf("expected ':' after dict key %q", key)
		}
		p.i++
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out[key] = v
		p.space()
		if p.i >= len(p.s) {
			return nil, fmt.Errorf("missing '}'")
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case '}':
		default:
			return nil, fmt.Errorf("expected ',' or '}' at offset %d", p.i)
		}
	}
}

func (p *pyParser) str() (any, error) {
	q := p.s[p.i]
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == q:
			p.i++
			return b.String(), nil
		case c == '\\' && p.i+1 < len(p.s):
			p.i++
			e := p.s[p.i]
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '\\', '\'', '"':
				b.WriteByte(e)
			default:
				// Python keeps unknown escapes as written ("\d" stays backslash-d),
				// which matters for Windows paths.
				b.WriteByte('\\')
				b.WriteByte(e)
			}
			p.i++
		default:
			b.WriteByte(c)
			p.i++
		}
	}
	return nil, fmt.Errorf("unterminated string")
}

func (p *pyParser) rawStr() (any, error) {
	q := p.s[p.i]
	p.i++
	start := p.i
	for p.i < len(p.s) {
		if p.s[p.i] == '\\' && p.i+1 < len(p.s) {
			p.i += 2
			continue
		}
		if p.s[p.i] == q {
			v := p.s[start:p.i]
			p.i++
			return v, nil
		}
		p.i++
	}
	return nil, fmt.Errorf("unterminated string")
}

func (p *pyParser) number() (any, error) {
	start := p.i
	if p.s[p.i] == '-' || p.s[p.i] == '+' {
		p.i++
	}
	for p.i < len(p.s) && strings.ContainsRune("0123456789_.eE+-", rune(p.s[p.i])) {
		// A sign is part of the number only right after an exponent marker.
		if (p.s[p.i] == '+' || p.s[p.i] == '-') && !(p.s[p.i-1] == 'e' || p.s[p.i-1] == 'E') {
			break
		}
		p.i++
	}
	text := strings.ReplaceAll(p.s[start:p.i], "_", "")
	if n, err := strconv.ParseInt(text, 10, 64); err == nil {
		return n, nil
	}
	if f, err := strconv.ParseFloat(text, 64); err == nil {
		return f, nil
	}
	return nil, fmt.Errorf("bad number %q", p.s[start:p.i])
}

func (p *pyParser) name() (any, error) {
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == '_' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			p.i++
			continue
		}
		break
	}
	switch n := p.s[start:p.i]; n {
	case "True":
		return true, nil
	case "False":
		return false, nil
	case "None":
		return nil, nil
	default:
		p.space()
		if p.i < len(p.s) && p.s[p.i] == '(' {
			return nil, fmt.Errorf("calls such as %s(...) are not supported", n)
		}
		return pyName(n), nil
	}
}
