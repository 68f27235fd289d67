package protocol

import (
	"encoding/binary"
	"fmt"
	"math"
)

// TaskFlags is Task.metadata: 6 bytes, big-endian (spec/protocol.md §4.2).
type TaskFlags struct {
	Profiling    bool
	Priority     int32
	StreamOutput bool
}

// DefaultTaskFlags is what empty metadata means.
var DefaultTaskFlags = TaskFlags{Profiling: true}

// Encode returns the 6-byte form.
func (f TaskFlags) Encode() []byte {
	b := make([]byte, 6)
	if f.Profiling {
		b[0] = 1
	}
	binary.BigEndian.PutUint32(b[1:], uint32(f.Priority))
	if f.StreamOutput {
		b[5] = 1
	}
	return b
}

// DecodeTaskFlags reads Task.metadata; empty means DefaultTaskFlags.
func DecodeTaskFlags(b []byte) (TaskFlags, error) {
	if len(b) == 0 {
		return DefaultTaskFlags, nil
	}
	if len(b) != 6 {
		return TaskFlags{}, fmt.Errorf("%w: task flags of %d bytes, want 6", ErrMalformed, len(b))
	}
	return TaskFlags{Profiling: b[0] != 0, Priority: int32(binary.BigEndian.Uint32(b[1:])), StreamOutput: b[5] != 0}, nil
}

// ProfileResult is TaskResult.metadata: 16 bytes, big-endian (spec/protocol.md §4.3).
type ProfileResult struct {
	DurationS  float32
	MemoryPeak uint64
	CPUTimeS   float32
}

// Encode returns the 16-byte form.
func (p ProfileResult) Encode() []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint32(b[0:], math.Float32bits(p.DurationS))
	binary.BigEndian.PutUint64(b[4:], p.MemoryPeak)
	binary.BigEndian.PutUint32(b[12:], math.Float32bits(p.CPUTimeS))
	return b
}

// DecodeProfileResult reads TaskResult.metadata; ok is false when it is empty.
func DecodeProfileResult(b []byte) (p ProfileResult, ok bool, err error) {
	if len(b) == 0 {
		return p, false, nil
	}
	if len(b) != 16 {
		return p, false, fmt.Errorf("%w: profile result of %d bytes, want 16", ErrMalformed, len(b))
	}
	p.DurationS = math.Float32frombits(binary.BigEndian.Uint32(b[0:]))
	p.MemoryPeak = binary.BigEndian.Uint64(b[4:])
	p.CPUTimeS = math.Float32frombits(binary.BigEndian.Uint32(b[12:]))
	return p, true, nil
}
