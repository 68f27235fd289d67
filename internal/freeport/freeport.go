// Package freeport finds runs of free loopback TCP ports, for a scheduler that takes its
// port and the next two (object storage, monitor).
package freeport

import (
	"errors"
	"net"
	"strconv"
)

// Run returns p such that p..p+n-1 are free on 127.0.0.1 at the time of the call.
func Run(n int) (int, error) {
	for attempt := 0; attempt < 100; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := l.Addr().(*net.TCPAddr).Port
		ok := p+n-1 <= 65535
		var held []net.Listener
		for i := 1; ok && i < n; i++ {
			h, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+i))
			if err != nil {
				ok = false
				break
			}
			held = append(held, h)
		}
		l.Close()
		for _, h := range held {
			h.Close()
		}
		if ok {
			return p, nil
		}
	}
	return 0, errors.New("no free run of loopback ports found")
}
