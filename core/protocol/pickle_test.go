package protocol

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// spec/protocol.md §4.4: RuntimeError("boom") as CPython pickles it.
func TestPickleExceptionGolden(t *testing.T) {
	want := append(append([]byte{0x80, 0x05, 0x95, 0x28, 0, 0, 0, 0, 0, 0, 0, 0x8c, 0x08}, "builtins"...), 0x94, 0x8c, 0x0c)
	want = append(want, "RuntimeError"...)
	want = append(want, 0x94, 0x93, 0x94, 0x8c, 0x04)
	want = append(want, "boom"...)
	want = append(want, 0x94, 0x85, 0x94, 0x52, 0x94, 0x2e)
	got := PickleException("builtins", "RuntimeError", "boom")
	if !bytes.Equal(got, want) {
		t.Fatalf("got  % x\nwant % x", got, want)
	}
	e, err := ParsePickledException(got)
	if err != nil || e.Name != "RuntimeError" || e.Message != "boom" {
		t.Fatalf("parse = %+v, %v", e, err)
	}
	long := strings.Repeat("x", 300)
	e, err = ParsePickledException(PickleException("builtins", "ValueError", long))
	if err != nil || e.Message != long {
		t.Fatalf("long message: %v", err)
	}
	if _, err := ParsePickledException([]byte("garbage")); err == nil {
		t.Fatal("garbage parsed")
	}
}

// Python's pickle must load what we write.
func TestPickleExceptionLoadsInPython(t *testing.T) {
	py := "/usr/bin/python3"
	if _, err := exec.LookPath(py); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	msg := "queue full: 5 tasks waiting, limit 5 — ünïcode"
	cmd := exec.Command(py, "-c", "import pickle,sys; e=pickle.loads(sys.stdin.buffer.read()); print(type(e).__name__+'|'+str(e))")
	cmd.Stdin = bytes.NewReader(PickleException("builtins", "RuntimeError", msg))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v %s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "RuntimeError|"+msg {
		t.Fatalf("python loaded %q", got)
	}
}
