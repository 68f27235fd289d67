package symphony_test

import (
	"bytes"
	"testing"

	"github.com/scaler-go/scaler/adapters/symphony"
)

// FuzzDecodeWrappedOutput feeds arbitrary task outputs (what a Symphony service returned) to
// the decoder: it must never panic, and a payload it accepts is a part of its input.
func FuzzDecodeWrappedOutput(f *testing.F) {
	f.Add([]byte{0x80, 4, 0x95, 5, 0, 0, 0, 0, 0, 0, 0, 'C', 1, 0, 0x94, '.'})
	f.Add([]byte{0x80, 5, 'B', 2, 0, 0, 0, 0, 'h', 'i', '.'})
	f.Add([]byte{0x80, 3, 'C', 3, 1, 'o', 'k', '.'})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		payload, _, err := symphony.DecodeWrappedOutput(b)
		if err == nil && len(payload) > 0 && !bytes.Contains(b, payload) {
			t.Fatalf("payload %x is not part of the output", payload)
		}
		inner, err := symphony.PickledBytes(b)
		if err == nil && len(inner) > 0 && !bytes.Contains(b, inner) {
			t.Fatalf("bytes %x are not part of the pickle", inner)
		}
	})
}
