package protocol

import (
	"bytes"
	"errors"
	"testing"
)

func TestTaskFlags(t *testing.T) {
	f := TaskFlags{Profiling: false, Priority: 1, StreamOutput: true}
	if got := f.Encode(); !bytes.Equal(got, []byte{0, 0, 0, 0, 1, 1}) {
		t.Fatalf("encode % x", got)
	}
	tests := []struct {
		in   []byte
		want TaskFlags
		err  bool
	}{
		{in: nil, want: DefaultTaskFlags},
		{in: []byte{0, 0, 0, 0, 1, 1}, want: f},
		{in: []byte{1, 0, 0, 0, 0, 0}, want: TaskFlags{Profiling: true}},
		{in: []byte{1, 2, 3}, err: true},
		{in: []byte{0, 0, 0, 0, 1, 1, 1}, want: TaskFlags{Priority: 1, StreamOutput: true, InlineResult: true}},
		{in: []byte{0, 0, 0, 0, 1, 1, 0}, want: f},
		{in: []byte{0, 0, 0, 0, 1, 1, 1, 0}, err: true},
	}
	for _, tt := range tests {
		got, err := DecodeTaskFlags(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("DecodeTaskFlags(% x) = %+v, %v", tt.in, got, err)
		}
	}
}

func TestProfileResult(t *testing.T) {
	p := ProfileResult{DurationS: 1.5, MemoryPeak: 1024, CPUTimeS: 0.25}
	want := unhex(t, "3fc00000 0000000000000400 3e800000")
	if got := p.Encode(); !bytes.Equal(got, want) {
		t.Fatalf("encode % x", got)
	}
	back, ok, err := DecodeProfileResult(want)
	if err != nil || !ok || back != p {
		t.Fatalf("decode = %+v %v %v", back, ok, err)
	}
	if _, ok, err := DecodeProfileResult(nil); ok || err != nil {
		t.Fatal("empty")
	}
	if _, _, err := DecodeProfileResult([]byte{1}); err == nil {
		t.Fatal("short accepted")
	}
}

// The Go extension byte appears only when an extension bit is set, and Python readers get
// the standard 16 bytes back from StandardProfile.
func TestGoExtensionBytes(t *testing.T) {
	f := TaskFlags{Profiling: true, InlineResult: true}
	if got := f.Encode(); !bytes.Equal(got, []byte{1, 0, 0, 0, 0, 0, 1}) {
		t.Fatalf("flags % x", got)
	}
	p := ProfileResult{DurationS: 1.5, Inline: true}
	enc := p.Encode()
	if len(enc) != 17 || enc[16] != 1 {
		t.Fatalf("profile % x", enc)
	}
	back, ok, err := DecodeProfileResult(enc)
	if err != nil || !ok || back != p {
		t.Fatalf("decode = %+v %v %v", back, ok, err)
	}
	if std := StandardProfile(enc); len(std) != 16 || !bytes.Equal(std, ProfileResult{DurationS: 1.5}.Encode()) {
		t.Fatalf("standard % x", std)
	}
	if got := ArgInline.String(); got != "inline" {
		t.Fatal(got)
	}
}

// Messages larger than capnp's default 64 MiB traversal limit must decode.
func TestLargeMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 200 MiB")
	}
	big := bytes.Repeat([]byte{7}, 90<<20)
	b := MustEncode(&TaskLog{TaskID: []byte("t"), Content: string(big)})
	m, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.(*TaskLog).Content) != len(big) {
		t.Fatal("content truncated")
	}
}

// A tiny message claiming a huge list of zero-sized structs must be refused, not allocated.
func TestAmplificationRefused(t *testing.T) {
	// Message{graphTask{graph = composite list of 2^28 zero-sized Tasks}}, 8 words.
	var b []byte
	b = append(b, unhex(t, "00000000 08000000")...)
	b = append(b, unhex(t, "00000000 01000100")...) // root -> Message at word 1
	b = append(b, unhex(t, "05000000 00000000")...) // data: tag 5
	b = append(b, unhex(t, "00000000 00000400")...) // ptr -> GraphTask at word 3, 0 data 4 ptrs
	b = append(b, make([]byte, 16)...)              // taskId, source null
	b = append(b, make([]byte, 8)...)               // targets null
	b = append(b, unhex(t, "01000000 07000000")...) // graph: list ptr offset 0, composite, 0 words
	b = append(b, unhex(t, "00000010 00000000")...) // tag: 2^28 elements of 0 words
	_, err := Decode(b)
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("a list of 2^28 elements in a 72-byte message: %v", err)
	}
}
