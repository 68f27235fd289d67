//go:build !linux

package ymq

import (
	"net"
)

// rawSocket exists on Linux only; elsewhere connections use net.Conn's Read and Write.
type rawSocket struct{ net.Conn }

func newRawSocket(net.Conn) *rawSocket { return nil }

func (s *rawSocket) writev(bufs [][]byte) error {
	v := net.Buffers(bufs)
	_, err := v.WriteTo(s.Conn)
	return err
}
