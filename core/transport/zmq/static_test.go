//go:build zmqstatic

package zmq

import (
	"debug/elf"
	"os"
	"testing"

	// A static link of libzmq needs the GSSAPI link shim, as bin/scaler does (zmqstatic.go).
	_ "github.com/scaler-go/scaler/internal/gssstub"
)

// TestStaticallyLinked runs only in the static build of this test binary (make check-static)
// and checks that it really is static, so the other tests prove the static libzmq works.
func TestStaticallyLinked(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatalf("%s has a program interpreter: it is dynamically linked", exe)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Fatalf("%s needs shared libraries %v (%v)", exe, libs, err)
	}
}
