package topview

import (
	"context"
	"time"

	"github.com/gdamore/tcell/v2"

	"github.com/scaler-go/scaler/core/monitor"
)

// FrameInterval is the shortest time between two frames caused by monitor updates: a burst
// of task events (hundreds per second during a map) is folded into the model as it comes
// and drawn at most this often. Keys and resizes draw at once.
const FrameInterval = 100 * time.Millisecond

// refreshInterval redraws an unchanged model so the ages on screen (the banner's "no data
// for N s", the status age) keep counting.
const refreshInterval = time.Second

// Run shows the dashboard on s, an initialised screen, until the user quits (q, Ctrl-C),
// ctx ends or the screen is finalised. It owns m and v: it applies every update from
// updates to m and draws v. It returns nil in all those cases; finalising s is the caller's.
func Run(ctx context.Context, s tcell.Screen, updates <-chan monitor.Update, m *monitor.Model, v *View) error {
	RegisterFallbacks(s)
	events := make(chan tcell.Event, 64)
	quit := make(chan struct{})
	go s.ChannelEvents(events, quit)
	defer func() {
		close(quit)
		for range events { // ChannelEvents closes events when it returns
		}
	}()

	tick := time.NewTicker(FrameInterval)
	defer tick.Stop()
	var lastDraw time.Time
	dirty := false
	draw := func() {
		lastDraw = time.Now()
		v.Draw(s, m, lastDraw)
		dirty = false
	}
	draw()
	for {
		select {
		case <-ctx.Done():
			return nil
		case u, ok := <-updates:
			if !ok {
				// The stream ended (closed under us): keep the last picture and the keys
				// working; the banner will say that no data comes.
				updates = nil
				continue
			}
			m.Apply(u)
			dirty = true
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			switch ev := ev.(type) {
			case *tcell.EventKey:
				if v.Key(ev) {
					return nil
				}
				draw()
			case *tcell.EventResize:
				s.Sync()
				draw()
			}
		case now := <-tick.C:
			if dirty || now.Sub(lastDraw) >= refreshInterval {
				draw()
			}
		}
	}
}

// fallbacks are ASCII stand-ins for the dashboard's non-ASCII characters, used by terminals
// whose locale cannot show them (LANG=C): without them tcell prints "?".
var fallbacks = map[rune]string{
	'…': "~", '·': "|", '↓': "v", '↑': "^", '◀': "<", '▶': ">",
	'▁': "_", '▂': "_", '▃': "-", '▄': "-", '▅': "=", '▆': "=", '▇': "#", '█': "#",
}

// RegisterFallbacks gives s ASCII stand-ins for the characters the dashboard draws; a
// terminal that can show them keeps the originals.
func RegisterFallbacks(s tcell.Screen) {
	for r, sub := range fallbacks {
		s.RegisterRuneFallback(r, sub)
	}
}
