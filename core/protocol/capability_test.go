package protocol

import (
	"slices"
	"testing"
)

func TestCapabilityNames(t *testing.T) {
	for _, tc := range []struct {
		caps []Capability
		want []string
	}{
		{nil, nil},
		{[]Capability{{Name: "gpu", Value: 1}}, []string{"gpu"}},
		{[]Capability{{Name: "tpu"}, {Name: "gpu"}, {Name: "tpu", Value: 2}}, []string{"gpu", "tpu"}},
	} {
		if got := CapabilityNames(tc.caps); !slices.Equal(got, tc.want) || (tc.want == nil) != (got == nil) {
			t.Errorf("CapabilityNames(%v) = %#v, want %#v", tc.caps, got, tc.want)
		}
	}
}
