// Package gocodec is the payload format of Go tasks, shared by the Go client and the Go
// worker: the serializer object that marks a client's tasks as Go tasks, function objects
// (a registered name), and CBOR (RFC 8949) for arguments, results and failures.
//
// A Python worker that receives a Go task fails it cleanly: our serializer object is not a
// pickle, so it cannot load it.
package gocodec

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"

	"github.com/fxamacker/cbor/v2"
)

// Serializer is the content of a Go client's serializer object.
var Serializer = []byte("\x00scaler-go/cbor/1")

// IsGoSerializer reports whether a serializer object marks Go tasks.
func IsGoSerializer(b []byte) bool { return bytes.Equal(b, Serializer) }

// functionPrefix starts every Go function object, so a worker can tell a registered name
// from anything else a client may have stored.
var functionPrefix = []byte("go-func:")

// EncodeFunction returns the function object for a registered function name.
func EncodeFunction(name string) []byte {
	return append(append([]byte(nil), functionPrefix...), name...)
}

// DecodeFunction returns the function name held in a function object.
func DecodeFunction(b []byte) (string, error) {
	name, ok := bytes.CutPrefix(b, functionPrefix)
	if !ok || len(name) == 0 {
		return "", fmt.Errorf("not a Go function object (%d bytes)", len(b))
	}
	return string(name), nil
}

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.EncOptions{Time: cbor.TimeRFC3339Nano, ShortestFloat: cbor.ShortestFloatNone}.EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		IntDec:           cbor.IntDecConvertSignedOrBigInt,
		DefaultMapType:   reflect.TypeOf(map[string]any{}),
		MaxArrayElements: 1 << 27,
		MaxMapPairs:      1 << 27,
		MaxNestedLevels:  256,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// Marshal encodes a value.
func Marshal(v any) ([]byte, error) {
	b, err := encMode.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return b, nil
}

// Unmarshal decodes data into v (a pointer). Integers decode to int64 and maps to
// map[string]any when v points to an interface.
func Unmarshal(data []byte, v any) error {
	if err := decMode.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode into %T: %w", v, err)
	}
	return nil
}

// Failure is the payload of a failed Go task.
type Failure struct {
	Function string `cbor:"1,keyasint"`
	Message  string `cbor:"2,keyasint"`
	Stack    string `cbor:"3,keyasint,omitempty"`
	Worker   string `cbor:"4,keyasint,omitempty"`
	// Kind classifies the failure: "error", "panic", "timeout", "not_registered", "bad_arguments".
	Kind string `cbor:"5,keyasint,omitempty"`
}

// failureTag marks failure payloads, so they cannot be mistaken for results.
const failureTag = 24771

// EncodeFailure returns the failure payload.
func EncodeFailure(f Failure) []byte {
	b, err := encMode.Marshal(cbor.Tag{Number: failureTag, Content: f})
	if err != nil {
		// A struct of strings always encodes.
		panic(err)
	}
	return b
}

// ErrNotFailure means the bytes are not a Go failure payload.
var ErrNotFailure = errors.New("not a Go task failure")

// DecodeFailure reads a failure payload.
func DecodeFailure(b []byte) (Failure, error) {
	var raw cbor.RawTag
	if err := decMode.Unmarshal(b, &raw); err != nil || raw.Number != failureTag {
		return Failure{}, ErrNotFailure
	}
	var f Failure
	if err := decMode.Unmarshal(raw.Content, &f); err != nil {
		return Failure{}, fmt.Errorf("%w: %v", ErrNotFailure, err)
	}
	return f, nil
}
