package topview

import (
	"testing"
	"unicode"

	"github.com/scaler-go/scaler/core/protocol"
)

// FuzzDraw feeds identities, message names and figures off the wire into a frame of any
// size: drawing must not panic and must put only printable single-cell characters on the
// screen, whatever the bytes (control characters would move the terminal's cursor).
func FuzzDraw(f *testing.F) {
	f.Add([]byte("Worker|FIX|3e93bead9bda40b2"), []byte("wm-gpu"), []byte("Client|452e"), "Task", uint32(28), uint8(200), uint8(50))
	f.Add([]byte("\x1b[2J\x00\xff\xfe"), []byte("字字字"), []byte("\t\n"), "Ta\x07sk", uint32(1<<31), uint8(1), uint8(1))
	f.Add([]byte(""), []byte(""), []byte(""), "", uint32(0), uint8(80), uint8(24))
	f.Fuzz(func(t *testing.T, worker, manager, client []byte, msg string, n uint32, w, h uint8) {
		st := &protocol.StateScheduler{
			Sent:       []protocol.Counter{{Name: msg, Number: n}},
			Received:   []protocol.Counter{{Name: msg + msg, Number: n / 3}},
			Clients:    []protocol.ClientTasks{{Client: client, NumTask: n}},
			TaskStates: []protocol.StateCount{{State: uint8(n % 16), Count: n}},
			Workers: []protocol.WorkerStatus{
				{WorkerID: worker, Sent: n, LagUS: uint64(n) * 1000, LastS: uint16(n), ITL: msg,
					Processors: []protocol.ProcessorStatus{{Resource: protocol.Resource{CPU: uint16(n), RSS: uint64(n) << 20}}}},
				{WorkerID: append([]byte("x"), worker...), Suspended: uint8(n)},
			},
			ManagedWorkers: []protocol.ManagedWorkers{{WorkerManagerID: manager, WorkerIDs: [][]byte{worker}}},
			Managers:       []protocol.ManagerDetail{{WorkerManagerID: manager, PendingWorkers: n}},
		}
		m := stateModel(st)
		s := newScreen(t, int(w), int(h))
		v := New(Options{Address: string(client)})
		v.Draw(s, m, base)
		v.Key(key('/'))
		for _, r := range string(worker) {
			v.Key(key(r))
		}
		v.Draw(s, m, base.Add(time48h))
		cells, _, _ := s.GetContents()
		for i, c := range cells {
			for _, r := range c.Runes {
				if !unicode.IsPrint(r) && r != ' ' || isWide(r) {
					t.Fatalf("cell %d holds %q", i, r)
				}
			}
		}
	})
}

const time48h = 48 * 60 * 60 * 1e9
