//go:build linux

package ymq

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// rawSocket reads and writes a plain TCP or unix socket with raw system calls on its
// non-blocking descriptor.
//
// Why: Go's Read and Write mark the thread as "in a system call". A writev to a local peer
// takes tens of microseconds on a VM (it wakes the peer), long enough for the runtime's
// monitor thread (sysmon) to hand the thread's P to another thread, and the first such call
// after an idle spell wakes sysmon from its deep sleep. On a connection carrying one small
// message at a time, those thread wake-ups cost more than the message. Raw calls do
// neither, and they never block: EAGAIN goes back to Go's poller through syscall.RawConn,
// which parks the goroutine exactly as Read and Write do and honours the deadlines.
type rawSocket struct {
	conn net.Conn
	rc   syscall.RawConn
	iov  []syscall.Iovec // used by the writer only
}

// newRawSocket returns nil when c gives no raw access.
func newRawSocket(c net.Conn) *rawSocket {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return &rawSocket{conn: c, rc: rc}
}

func (s *rawSocket) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: s.conn.LocalAddr().Network(), Source: s.conn.LocalAddr(), Addr: s.conn.RemoteAddr(), Err: err}
}

// Read is io.Reader: one read of what the socket holds, parking until there is something.
func (s *rawSocket) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var errno syscall.Errno
	err := s.rc.Read(func(fd uintptr) bool {
		for {
			r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // wait until readable
			}
			n, errno = int(r), e
			return true
		}
	})
	if err == nil && errno != 0 {
		err = os.NewSyscallError("read", errno)
	}
	if err != nil {
		return 0, s.opError("read", err)
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// maxIovecs is the kernel's limit on the buffers of one writev (IOV_MAX).
const maxIovecs = 1024

// writev writes all of bufs, parking while the socket is full.
func (s *rawSocket) writev(bufs [][]byte) error {
	iov := s.iov[:0]
	for _, b := range bufs {
		if len(b) > 0 {
			v := syscall.Iovec{Base: &b[0]}
			v.SetLen(len(b))
			iov = append(iov, v)
		}
	}
	defer func() {
		clear(iov) // keep no payload alive
		s.iov = iov[:0]
	}()
	rest := iov
	var errno syscall.Errno
	err := s.rc.Write(func(fd uintptr) bool {
		for len(rest) > 0 {
			cnt := min(len(rest), maxIovecs)
			r, _, e := syscall.RawSyscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&rest[0])), uintptr(cnt))
			switch {
			case e == syscall.EINTR:
				continue
			case e == syscall.EAGAIN, e == 0 && r == 0:
				return false // wait until writable
			case e != 0:
				errno = e
				return true
			}
			rest = advanceIovecs(rest, int(r))
		}
		return true
	})
	if err == nil && errno != 0 {
		err = os.NewSyscallError("writev", errno)
	}
	if err != nil {
		return s.opError("write", err)
	}
	return nil
}

// advanceIovecs drops the first n bytes of iov.
func advanceIovecs(iov []syscall.Iovec, n int) []syscall.Iovec {
	for n > 0 && len(iov) > 0 {
		l := int(iov[0].Len)
		if n < l {
			iov[0].Base = (*byte)(unsafe.Add(unsafe.Pointer(iov[0].Base), n))
			iov[0].SetLen(l - n)
			return iov
		}
		n -= l
		iov = iov[1:]
	}
	return iov
}
