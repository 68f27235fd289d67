package sysinfo

import (
	"os"
	"strconv"
	"testing"
)

func TestProcessFigures(t *testing.T) {
	if ProcessMemory("self") == 0 || ProcessRSS("self") == 0 {
		t.Fatal("no memory figure for this process")
	}
	if _, ok := ProcessCPUSeconds(strconv.Itoa(os.Getpid())); !ok {
		t.Fatal("no cpu figure")
	}
	avail, limit := Memory()
	if avail == 0 || limit == 0 || avail > limit {
		t.Fatalf("memory avail=%d limit=%d", avail, limit)
	}
	s := NewCPUSampler("self")
	s.Sample()
	x := 0
	for i := 0; i < 3_000_000; i++ {
		x += i % 7
	}
	_ = x
	_ = s.Sample() // any value; must not panic
	if _, ok := ProcessCPUSeconds("no-such-pid"); ok {
		t.Fatal("bogus pid readable")
	}
}
