package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Failures sent to Python clients are pickled exceptions (spec/protocol.md §4.4). When the
// scheduler or a Go component must fail a task itself (queue full, worker gone, a Python
// processor that cannot start) it writes the simplest such pickle by hand:
//
//	PROTO 5, FRAME n, SHORT_BINUNICODE module, MEMOIZE, SHORT_BINUNICODE name, MEMOIZE,
//	STACK_GLOBAL, MEMOIZE, (SHORT_)BINUNICODE message, MEMOIZE, TUPLE1, MEMOIZE, REDUCE,
//	MEMOIZE, STOP
//
// which `pickle.loads` turns into `module.name(message)`. ParsePickledException reads back
// exactly this shape (and the same shape written by CPython for builtin exceptions).

// PickleException returns the pickle of module.name(message), e.g. builtins.RuntimeError.
func PickleException(module, name, message string) []byte {
	var body []byte
	body = AppendPickleString(body, module)
	body = append(body, 0x94) // MEMOIZE
	body = AppendPickleString(body, name)
	body = append(body, 0x94, 0x93, 0x94) // MEMOIZE, STACK_GLOBAL, MEMOIZE
	body = AppendPickleString(body, message)
	body = append(body, 0x94, 0x85, 0x94, 0x52, 0x94, 0x2e) // MEMOIZE TUPLE1 MEMOIZE REDUCE MEMOIZE STOP
	out := make([]byte, 0, len(body)+11)
	out = append(out, 0x80, 0x05, 0x95) // PROTO 5, FRAME
	out = binary.LittleEndian.AppendUint64(out, uint64(len(body)))
	return append(out, body...)
}

// AppendPickleString appends the pickle opcode pushing s (SHORT_BINUNICODE or BINUNICODE).
func AppendPickleString(b []byte, s string) []byte {
	if len(s) < 256 {
		b = append(b, 0x8c, byte(len(s))) // SHORT_BINUNICODE
	} else {
		b = append(b, 'X') // BINUNICODE
		b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	}
	return append(b, s...)
}

// ErrNotSimplePickle means the bytes are not a pickle of the shape PickleException writes.
var ErrNotSimplePickle = errors.New("not a simple pickled exception")

// PickledException is what ParsePickledException found.
type PickledException struct {
	Module, Name, Message string
}

func (e PickledException) Error() string {
	if e.Module == "builtins" || e.Module == "" {
		return fmt.Sprintf("%s: %s", e.Name, e.Message)
	}
	return fmt.Sprintf("%s.%s: %s", e.Module, e.Name, e.Message)
}

// IsPickle reports whether b starts like a pickle of protocol 2 or later.
func IsPickle(b []byte) bool { return len(b) >= 2 && b[0] == 0x80 && b[1] >= 2 && b[1] <= 5 }

// ParsePickledException reads module, class and message from a pickle written by
// PickleException (or by CPython for `Class("message")` without a traceback).
func ParsePickledException(b []byte) (PickledException, error) {
	p := b
	if len(p) < 2 || p[0] != 0x80 {
		return PickledException{}, ErrNotSimplePickle
	}
	p = p[2:]
	if len(p) >= 9 && p[0] == 0x95 {
		p = p[9:]
	}
	var strs []string
	for len(p) > 0 {
		switch op := p[0]; op {
		case 0x8c:
			if len(p) < 2 || len(p) < 2+int(p[1]) {
				return PickledException{}, ErrNotSimplePickle
			}
			strs = append(strs, string(p[2:2+int(p[1])]))
			p = p[2+int(p[1]):]
		case 'X':
			if len(p) < 5 {
				return PickledException{}, ErrNotSimplePickle
			}
			n := binary.LittleEndian.Uint32(p[1:])
			if uint64(len(p)) < 5+uint64(n) {
				return PickledException{}, ErrNotSimplePickle
			}
			strs = append(strs, string(p[5:5+n]))
			p = p[5+n:]
		case 0x94, 0x93, 0x85, 0x52:
			p = p[1:]
		case 0x2e:
			if len(strs) != 3 {
				return PickledException{}, ErrNotSimplePickle
			}
			return PickledException{Module: strs[0], Name: strs[1], Message: strs[2]}, nil
		default:
			return PickledException{}, ErrNotSimplePickle
		}
	}
	return PickledException{}, ErrNotSimplePickle
}
