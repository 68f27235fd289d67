package worker

import (
	"bytes"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestFrameRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		kind byte
		body []byte
	}{{1, nil}, {2, []byte("x")}, {255, bytes.Repeat([]byte{7}, 70000)}} {
		k, b, err := readFrame(bytes.NewReader(frame(tc.kind, tc.body)))
		if err != nil || k != tc.kind || !bytes.Equal(b, tc.body) {
			t.Fatalf("kind %d, %d bytes: got %d, %d bytes, %v", tc.kind, len(tc.body), k, len(b), err)
		}
	}
	for _, bad := range [][]byte{{}, {1, 0}, {0, 0, 0, 0, 9}, {5, 0, 0, 0, 1, 'a'}} {
		if _, _, err := readFrame(bytes.NewReader(bad)); err == nil {
			t.Fatalf("% x accepted", bad)
		}
	}
}

// FuzzReadFrame reads arbitrary bytes as processor frames (what a Python processor, which
// runs user code, writes on its pipe): errors, never panics, and whatever is accepted
// re-encodes to the bytes it came from.
func FuzzReadFrame(f *testing.F) {
	f.Add(frame(1, []byte("ready")))
	f.Add([]byte{0, 0, 0, 0, 1})
	f.Add([]byte{0xff, 0xff, 0xff, 0x7f, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		for {
			before := r.Len()
			k, body, err := readFrame(r)
			if err != nil {
				return
			}
			if got := frame(k, body); !bytes.Equal(got, b[len(b)-before:len(b)-r.Len()]) {
				t.Fatalf("frame re-encodes differently")
			}
		}
	})
}
