package symphony

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/scaler-go/scaler/core/protocol"
)

// Payload formats. A Symphony service written for the Python project does, per task,
//
//	fn, *args = cloudpickle.loads(input)
//	output = cloudpickle.dumps(fn(*args))
//
// and a Python exception it raises becomes the task's Symphony error message. Both formats
// below keep that contract, so such services run them unchanged; neither needs Python on the
// manager host, because the manager never unpickles anything: it writes a small outer pickle
// by hand whose elements are rebuilt from the client's own pickles *on the service side*.
//
// Splicing the client's pickles into one tuple pickle, as `cloudpickle.dumps((fn, *args))`
// would produce, would mean renumbering every memo reference inside them and re-framing
// protocol-5 data; instead each client pickle travels as an opaque bytes object, and the
// outer pickle calls a loader on it while it is being unpickled. The value the service
// unpickles is the same.
type PayloadMode string

const (
	// PayloadWrapped (the default) sends (scaler_task, function_bytes, *argument_bytes), where
	// scaler_task is a small Python function (compiled from source while the input is
	// unpickled, so it works on any Python 3) bound to the client's serializer: it
	// deserializes the function and arguments, calls the function, and returns one tag byte
	// plus either the result in the client's serializer or the pickled exception (with tblib's
	// traceback when the service has tblib). Results therefore need no re-serialization on
	// the manager, custom serializers work, and a failure reaches the client with its
	// original exception type and traceback. Symphony itself sees such a task as successful.
	PayloadWrapped PayloadMode = "wrapped"
	// PayloadPlain sends exactly the Python adapter's (function, *arguments) and passes the
	// service's output (cloudpickle of the result) through as the result. It needs the
	// client's default serializer (cloudpickle); a Python exception arrives as a RuntimeError
	// carrying Symphony's error message, as the service's exception is only text by then.
	PayloadPlain PayloadMode = "plain"
)

// Tags of the wrapper's output.
const (
	tagSuccess = 0
	tagFailure = 1
)

// wrapperSource defines scaler_task, the function the wrapped payload calls on the service.
// It mirrors what a Scaler worker does with a task: deserialize with the client's
// serializer (None means the default, cloudpickle), call, serialize the result; a failure is
// pickled like the worker pickles it (tblib traceback support, cloudpickle for exception
// classes defined in the client's __main__, a RuntimeError carrying the text otherwise).
const wrapperSource = `import pickle


def _scaler_failure(exc):
    try:
        import tblib.pickling_support

        tblib.pickling_support.install(exc)
    except Exception:
        pass
    try:
        return pickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        pass
    try:
        import cloudpickle

        return cloudpickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        pass
    return pickle.dumps(RuntimeError(f"{type(exc).__name__}: {exc}"), protocol=pickle.HIGHEST_PROTOCOL)


def scaler_task(serializer, function, *arguments):
    try:
        if serializer is None:
            import cloudpickle

            deserialize = cloudpickle.loads

            def serialize(value):
                return cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

        else:
            deserialize, serialize = serializer.deserialize, serializer.serialize
        fn = deserialize(function)
        values = [deserialize(a) for a in arguments]
        payload = serialize(fn(*values))
    except BaseException as exc:  # a task's SystemExit fails the task, not the service
        return b"\x01" + _scaler_failure(exc)
    return b"\x00" + payload
`

// Pickle opcodes used here (Python's Lib/pickletools.py documents them).
const (
	opMark           = '('
	opStop           = '.'
	opPop            = '0'
	opNone           = 'N'
	opReduce         = 'R'
	opTuple          = 't'
	opEmptyDict      = '}'
	opBinGet         = 'h'
	opBinPut         = 'q'
	opLongBinPut     = 'r'
	opBinBytes       = 'B'
	opShortBinBytes  = 'C'
	opProto          = 0x80
	opTuple1         = 0x85
	opTuple2         = 0x86
	opShortBinUni    = 0x8c
	opBinBytes8      = 0x8e
	opStackGlobal    = 0x93
	opMemoize        = 0x94
	opFrame          = 0x95
	opByteArray8     = 0x96
	pickleProtocol   = 5
	maxShortPickle   = 255
	maxBinBytesPlain = 1<<32 - 1
)

type pickleWriter struct{ b []byte }

func (w *pickleWriter) op(ops ...byte) { w.b = append(w.b, ops...) }

func (w *pickleWriter) str(s string) { w.b = protocol.AppendPickleString(w.b, s) }

func (w *pickleWriter) bytes(p []byte) {
	switch {
	case len(p) <= maxShortPickle:
		w.b = append(w.b, opShortBinBytes, byte(len(p)))
	case uint64(len(p)) <= maxBinBytesPlain:
		w.b = append(w.b, opBinBytes)
		w.b = binary.LittleEndian.AppendUint32(w.b, uint32(len(p)))
	default:
		w.b = append(w.b, opBinBytes8)
		w.b = binary.LittleEndian.AppendUint64(w.b, uint64(len(p)))
	}
	w.b = append(w.b, p...)
}

func (w *pickleWriter) global(module, name string) {
	w.str(module)
	w.str(name)
	w.op(opStackGlobal)
}

// call pushes fn(arg) where arg is a bytes object: fn must already be on the stack.
func (w *pickleWriter) callWithBytes(p []byte) {
	w.bytes(p)
	w.op(opTuple1, opReduce)
}

func newPickle(size int) *pickleWriter {
	w := &pickleWriter{b: make([]byte, 0, size+len(wrapperSource)+256)}
	w.op(opProto, pickleProtocol)
	return w
}

// ErrCustomSerializerPlain is returned when a plain payload is asked for a client that
// uses its own serializer.
var ErrCustomSerializerPlain = errors.New("plain Symphony payloads need the client's default serializer (cloudpickle); this client uses its own serializer, which --symphony-payload wrapped supports")

// BuildInput returns the Symphony task input for a Python task: its serializer, function
// and arguments as the client stored them. The result is a pickle (protocol 5, no frames)
// that unpickles to a tuple whose first element is called with the others.
func BuildInput(mode PayloadMode, serializer, function []byte, args [][]byte) ([]byte, error) {
	size := len(function) + 16*len(args)
	for _, a := range args {
		size += len(a)
	}
	defaultSer := IsDefaultSerializer(serializer)
	switch mode {
	case PayloadPlain:
		if !defaultSer {
			return nil, ErrCustomSerializerPlain
		}
		// (pickle.loads(function), pickle.loads(arg)...): the client's objects are cloudpickles.
		w := newPickle(size)
		w.global("pickle", "loads")
		w.op(opMemoize, opPop)
		w.op(opMark)
		for _, p := range append([][]byte{function}, args...) {
			w.op(opBinGet, 0)
			w.callWithBytes(p)
		}
		w.op(opTuple, opStop)
		return w.b, nil
	case PayloadWrapped, "":
		w := newPickle(size + len(serializer))
		w.op(opMark)
		// functools.partial(scaler_task, serializer)
		w.global("functools", "partial")
		// scaler_task: ns = {}; exec(source, ns); ns["scaler_task"]
		w.op(opEmptyDict, opMemoize, opPop)
		w.global("builtins", "exec")
		w.str(wrapperSource)
		w.op(opBinGet, 0, opTuple2, opReduce, opPop)
		w.global("operator", "getitem")
		w.op(opBinGet, 0)
		w.str("scaler_task")
		w.op(opTuple2, opReduce)
		if defaultSer {
			// The service needs no scaler package for the default serializer.
			w.op(opNone)
		} else {
			w.global("pickle", "loads")
			w.callWithBytes(serializer)
		}
		w.op(opTuple2, opReduce)
		w.bytes(function)
		for _, a := range args {
			w.bytes(a)
		}
		w.op(opTuple, opStop)
		return w.b, nil
	default:
		return nil, fmt.Errorf("unknown Symphony payload mode %q", mode)
	}
}

// defaultSerializerModule and defaultSerializerClass name the Python client's default
// serializer, which its pickle references (spec/protocol.md §4.4).
const (
	defaultSerializerModule = "scaler.client.serializer.default"
	defaultSerializerClass  = "DefaultSerializer"
)

// IsDefaultSerializer reports whether a client's serializer object is the Python client's
// DefaultSerializer (cloudpickle): a pickle whose first operation references that class.
func IsDefaultSerializer(b []byte) bool {
	if !protocol.IsPickle(b) {
		return false
	}
	p := b[2:]
	if len(p) >= 9 && p[0] == opFrame {
		p = p[9:]
	}
	if len(p) > 0 && p[0] == 'c' { // GLOBAL "module\nname\n" (protocols 0-3)
		want := "c" + defaultSerializerModule + "\n" + defaultSerializerClass + "\n"
		return bytes.HasPrefix(p, []byte(want))
	}
	var strs []string
	for len(strs) < 2 && len(p) > 0 {
		switch p[0] {
		case opShortBinUni:
			if len(p) < 2 || len(p) < 2+int(p[1]) {
				return false
			}
			strs = append(strs, string(p[2:2+int(p[1])]))
			p = p[2+int(p[1]):]
		case opMemoize:
			p = p[1:]
		case opBinPut:
			if len(p) < 2 {
				return false
			}
			p = p[2:]
		default:
			return false
		}
	}
	for len(p) > 0 && (p[0] == opMemoize || p[0] == opBinPut) {
		if p[0] == opBinPut {
			p = p[1:]
		}
		p = p[1:]
	}
	return len(strs) == 2 && strs[0] == defaultSerializerModule && strs[1] == defaultSerializerClass &&
		len(p) > 0 && p[0] == opStackGlobal
}

// ErrNotPickledBytes means an output is not a pickle of a bytes object.
var ErrNotPickledBytes = errors.New("not a pickle of a bytes object")

// PickledBytes returns the bytes object pickled in b (as pickle protocols 3 to 5 write
// one, frames included).
func PickledBytes(b []byte) ([]byte, error) {
	if !protocol.IsPickle(b) || b[1] < 3 {
		return nil, ErrNotPickledBytes
	}
	p := b[2:]
	var out []byte
	found := false
	for len(p) > 0 {
		op := p[0]
		p = p[1:]
		switch op {
		case opFrame:
			if len(p) < 8 {
				return nil, ErrNotPickledBytes
			}
			p = p[8:]
		case opShortBinBytes, opBinBytes, opBinBytes8, opByteArray8:
			if found {
				return nil, ErrNotPickledBytes
			}
			var n uint64
			switch op {
			case opShortBinBytes:
				if len(p) < 1 {
					return nil, ErrNotPickledBytes
				}
				n, p = uint64(p[0]), p[1:]
			case opBinBytes:
				if len(p) < 4 {
					return nil, ErrNotPickledBytes
				}
				n, p = uint64(binary.LittleEndian.Uint32(p)), p[4:]
			default:
				if len(p) < 8 {
					return nil, ErrNotPickledBytes
				}
				n, p = binary.LittleEndian.Uint64(p), p[8:]
			}
			if uint64(len(p)) < n {
				return nil, ErrNotPickledBytes
			}
			out, p = p[:n], p[n:]
			found = true
		case opMemoize:
		case opBinPut:
			if len(p) < 1 {
				return nil, ErrNotPickledBytes
			}
			p = p[1:]
		case opLongBinPut:
			if len(p) < 4 {
				return nil, ErrNotPickledBytes
			}
			p = p[4:]
		case opStop:
			if !found || len(p) != 0 {
				return nil, ErrNotPickledBytes
			}
			return out, nil
		default:
			return nil, ErrNotPickledBytes
		}
	}
	return nil, ErrNotPickledBytes
}

// DecodeWrappedOutput splits the wrapper's output (the service's cloudpickle of the bytes
// scaler_task returned) into the task's payload and whether it is a failure.
func DecodeWrappedOutput(output []byte) (payload []byte, failed bool, err error) {
	inner, err := PickledBytes(output)
	if err != nil {
		return nil, false, err
	}
	if len(inner) == 0 {
		return nil, false, errors.New("empty wrapper output")
	}
	switch inner[0] {
	case tagSuccess:
		return inner[1:], false, nil
	case tagFailure:
		return inner[1:], true, nil
	default:
		return nil, false, fmt.Errorf("unknown wrapper output tag %d", inner[0])
	}
}
