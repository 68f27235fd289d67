package symphony_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scaler-go/scaler/adapters/symphony"
	"github.com/scaler-go/scaler/internal/pyclient"
)

func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "interop", "samples", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update after checking the change):\n got: %q\nwant: %q", name, got, want)
	}
}

// The input pickles are pinned: a change to the wrapper or the framing shows up here.
func TestBuildInputGolden(t *testing.T) {
	ser, fn, arg := sample(t, "serializer.bin"), sample(t, "func_math_sqrt.bin"), sample(t, "arg_16.bin")
	for _, mode := range []symphony.PayloadMode{symphony.PayloadWrapped, symphony.PayloadPlain} {
		in, err := symphony.BuildInput(mode, ser, fn, [][]byte{arg})
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "input_"+string(mode)+".golden", []byte(hex.Dump(in)))
	}
}

// runService does what the usual Symphony service does with an input, in Debian's python3.
func runService(t *testing.T, input []byte) []byte {
	t.Helper()
	out := pyclient.Run(t, `import sys, cloudpickle
fn, *args = cloudpickle.loads(sys.stdin.buffer.read())
sys.stdout.write(cloudpickle.dumps(fn(*args)).hex())
`, input)
	b, err := hex.DecodeString(strings.TrimSpace(out))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const clientMain = `
import threading

class BadInput(ValueError):
    pass

def make_adder(n):
    def add(x, y=0):
        return x + y + n
    return add

def check(x):
    if x < 0:
        raise BadInput(f"negative: {x}")
    return x

def div(a, b):
    return a / b

def size(b):
    return len(b)

def exits():
    raise SystemExit(3)

class Weird(Exception):
    def __init__(self):
        super().__init__("weird")
        self.lock = threading.Lock()

def weird():
    raise Weird()

class JSONSerializer:
    """A client's own serializer: JSON for values, cloudpickle for functions."""
    @staticmethod
    def serialize(obj):
        import json, cloudpickle
        if callable(obj):
            return b"F" + cloudpickle.dumps(obj)
        return b"J" + json.dumps(obj).encode()
    @staticmethod
    def deserialize(payload):
        import json, cloudpickle
        if payload[:1] == b"F":
            return cloudpickle.loads(payload[1:])
        return json.loads(payload[1:])
`

// Inputs built in Go run in Python the way the Symphony service runs them, and the wrapped
// outputs decode, in Go, to what a Scaler worker would have produced.
func TestWrappedPayloadRunsInPython(t *testing.T) {
	pyclient.Require(t)
	defSer := sample(t, "serializer.bin")
	customSer := pyclient.Pickle(t, clientMain, "JSONSerializer()")
	custom := func(expr string) []byte {
		return []byte(pyclient.Run(t, "import sys\n"+clientMain+"\nsys.stdout.buffer.write(JSONSerializer.serialize("+expr+"))\n", nil))
	}
	big := pyclient.Pickle(t, "", "b'x' * 300000")
	cases := []struct {
		name     string
		ser      []byte
		fn       []byte
		args     [][]byte
		failed   bool
		describe string // prefix of pyclient.DescribeWith(clientMain, payload), or of the custom-serialized result
	}{
		{"by reference", defSer, sample(t, "func_math_sqrt.bin"), [][]byte{sample(t, "arg_16.bin")}, false, "float|4.0|"},
		{"lambda by value", defSer, sample(t, "func_lambda.bin"), [][]byte{sample(t, "arg_2.bin")}, false, "int|4|"},
		{"closure, two args", defSer, pyclient.Pickle(t, clientMain, "make_adder(10)"), [][]byte{pyclient.Pickle(t, "", "5"), pyclient.Pickle(t, "", "7")}, false, "int|22|"},
		{"no args", defSer, pyclient.Pickle(t, "", "dict"), nil, false, "dict|{}|"},
		{"large argument", defSer, pyclient.Pickle(t, clientMain, "size"), [][]byte{big}, false, "int|300000|"},
		{"builtin exception", defSer, sample(t, "func_div_zero.bin"), [][]byte{sample(t, "arg_1.bin")}, true, "ZeroDivisionError|ZeroDivisionError('division by zero')|Traceback"},
		{"client's exception class", defSer, pyclient.Pickle(t, clientMain, "check"), [][]byte{pyclient.Pickle(t, "", "-2")}, true, "BadInput|BadInput('negative: -2')|Traceback"},
		{"SystemExit fails the task", defSer, pyclient.Pickle(t, clientMain, "exits"), nil, true, "SystemExit|SystemExit(3)|"},
		{"unpicklable exception", defSer, pyclient.Pickle(t, clientMain, "weird"), nil, true, "RuntimeError|RuntimeError('Weird: weird')|"},
		{"custom serializer", customSer, custom("div"), [][]byte{custom("7"), custom("2")}, false, "J3.5"},
		{"custom serializer, exception", customSer, custom("div"), [][]byte{custom("1"), custom("0")}, true, "ZeroDivisionError|"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in, err := symphony.BuildInput(symphony.PayloadWrapped, c.ser, c.fn, c.args)
			if err != nil {
				t.Fatal(err)
			}
			payload, failed, err := symphony.DecodeWrappedOutput(runService(t, in))
			if err != nil {
				t.Fatal(err)
			}
			if failed != c.failed {
				t.Fatalf("failed = %v, want %v", failed, c.failed)
			}
			var got string
			if bytes.Equal(c.ser, customSer) && !failed {
				got = string(payload) // the client's own serializer's bytes
			} else {
				got = pyclient.DescribeWith(t, clientMain, payload)
			}
			if !strings.HasPrefix(got, c.describe) {
				t.Fatalf("got %q, want prefix %q", got, c.describe)
			}
		})
	}
}

// The plain format is exactly the Python adapter's: the service's output is the cloudpickle
// of the result, which is also what the default serializer's result object is.
func TestPlainPayloadRunsInPython(t *testing.T) {
	pyclient.Require(t)
	in, err := symphony.BuildInput(symphony.PayloadPlain, sample(t, "serializer.bin"), sample(t, "func_math_sqrt.bin"), [][]byte{sample(t, "arg_16.bin")})
	if err != nil {
		t.Fatal(err)
	}
	out := runService(t, in)
	if !bytes.Equal(out, sample(t, "result_sqrt_16.bin")) {
		t.Fatalf("plain output % x is not the recorded result of sqrt(16)", out)
	}
	if _, err := symphony.BuildInput(symphony.PayloadPlain, pyclient.Pickle(t, clientMain, "JSONSerializer()"), nil, nil); !errors.Is(err, symphony.ErrCustomSerializerPlain) {
		t.Fatalf("plain with a custom serializer: %v", err)
	}
}

func TestIsDefaultSerializer(t *testing.T) {
	pyclient.Require(t)
	// A GLOBAL-opcode pickle (protocol 2) of the same class, as an old client might write it.
	proto2 := []byte("\x80\x02cscaler.client.serializer.default\nDefaultSerializer\nq\x00)\x81q\x01.")
	cases := []struct {
		name string
		b    []byte
		want bool
	}{
		{"recorded", sample(t, "serializer.bin"), true},
		{"protocol 2", proto2, true},
		{"custom", pyclient.Pickle(t, clientMain, "JSONSerializer()"), false},
		{"another class", pyclient.Pickle(t, "", "__import__('fractions').Fraction(1, 2)"), false},
		{"not a pickle", []byte("go-serializer"), false},
		{"truncated", sample(t, "serializer.bin")[:14], false},
	}
	for _, c := range cases {
		if got := symphony.IsDefaultSerializer(c.b); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// PickledBytes reads what CPython writes for bytes of every size class and protocol.
func TestPickledBytes(t *testing.T) {
	pyclient.Require(t)
	for _, proto := range []int{3, 4, 5} {
		for _, n := range []int{0, 1, 255, 256, 65535, 65536, 70000, 300000} {
			t.Run(fmt.Sprintf("p%d/%d", proto, n), func(t *testing.T) {
				expr := fmt.Sprintf("bytes(range(256)) * %d + bytes(range(%d))", n/256, n%256)
				raw := []byte(pyclient.Run(t, fmt.Sprintf("import sys, cloudpickle\nsys.stdout.write(cloudpickle.dumps(%s, protocol=%d).hex())", expr, proto), nil))
				b, err := hex.DecodeString(strings.TrimSpace(string(raw)))
				if err != nil {
					t.Fatal(err)
				}
				got, err := symphony.PickledBytes(b)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != n {
					t.Fatalf("%d bytes, want %d", len(got), n)
				}
				for i := range got {
					if got[i] != byte(i%256) {
						t.Fatalf("byte %d = %d", i, got[i])
					}
				}
			})
		}
	}
	for name, expr := range map[string]string{"str": "'abc'", "int": "5", "tuple": "(b'a',)", "two bytes": "[b'a', b'b']"} {
		b := pyclient.Pickle(t, "", expr)
		if _, err := symphony.PickledBytes(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Protocol 2 has no bytes opcode (it pickles _codecs.encode calls): refused, not misread.
	p2, err := hex.DecodeString(strings.TrimSpace(pyclient.Run(t, "import pickle, sys\nsys.stdout.write(pickle.dumps(b'a', protocol=2).hex())", nil)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := symphony.PickledBytes(p2); err == nil {
		t.Error("protocol 2: accepted")
	}
	good := pyclient.Pickle(t, "", "b'hello'")
	for i := 0; i < len(good)-1; i++ {
		if _, err := symphony.PickledBytes(good[:i]); err == nil {
			t.Errorf("truncated at %d: accepted", i)
		}
	}
	if _, err := symphony.PickledBytes(append(append([]byte(nil), good...), 'x')); err == nil {
		t.Error("trailing bytes accepted")
	}
}

func TestDecodeWrappedOutputRejects(t *testing.T) {
	pyclient.Require(t)
	for name, expr := range map[string]string{"empty bytes": "b''", "unknown tag": "b'\\x07abc'", "not bytes": "4.0"} {
		if _, _, err := symphony.DecodeWrappedOutput(pyclient.Pickle(t, "", expr)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
