package topview

import (
	"fmt"
	"testing"

	"github.com/gdamore/tcell/v2"
)

// BenchmarkDraw renders one whole frame (gather, sort, lay out, draw, Show on a simulation
// screen) for 1,000 workers; the goal is well under 10 ms per frame.
func BenchmarkDraw(b *testing.B) {
	for _, size := range [][2]int{{200, 50}, {80, 24}} {
		b.Run(fmt.Sprintf("1000workers_%dx%d", size[0], size[1]), func(b *testing.B) {
			m := syntheticModel(1000, base)
			s := tcell.NewSimulationScreen("UTF-8")
			if err := s.Init(); err != nil {
				b.Fatal(err)
			}
			defer s.Fini()
			s.SetSize(size[0], size[1])
			v := New(Options{Address: "tcp://127.0.0.1:6380"})
			b.ReportAllocs()
			for b.Loop() {
				v.Draw(s, m, base)
			}
		})
	}
}
