package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestRunIsFree(t *testing.T) {
	for _, n := range []int{1, 3} {
		p, err := Run(n)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+i))
			if err != nil {
				t.Fatalf("port %d of run %d..%d: %v", p+i, p, p+n-1, err)
			}
			l.Close()
		}
	}
}
