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

	// The callbacks handed to rc are bound once, with their inputs and results in these
	// fields, so that a read or a write allocates nothing. The reader goroutine owns the
	// read fields, the writer goroutine the write fields.
	readFn  func(fd uintptr) bool
	rbuf    []byte
	rn      int
	rerrno  syscall.Errno
	writeFn func(fd uintptr) bool
	iov     []syscall.Iovec
	wrest   []syscall.Iovec
	werrno  syscall.Errno
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
	s := &rawSocket{conn: c, rc: rc}
	s.readFn, s.writeFn = s.readOnce, s.writeSome
	return s
}

// errnoError is what a failed system call gives, shaped as net.Conn's errors are. Errors
// from rc itself (closed, deadline) already are.
func (s *rawSocket) errnoError(op, call string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: s.conn.LocalAddr().Network(), Source: s.conn.LocalAddr(), Addr: s.conn.RemoteAddr(), Err: os.NewSyscallError(call, errno)}
}

// Read is io.Reader: one read of what the socket holds, parking until there is something.
func (s *rawSocket) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.rbuf, s.rn, s.rerrno = p, 0, 0
	err := s.rc.Read(s.readFn)
	s.rbuf = nil
	switch {
	case err != nil:
		return 0, err
	case s.rerrno != 0:
		return 0, s.errnoError("read", "read", s.rerrno)
	case s.rn == 0:
		return 0, io.EOF
	}
	return s.rn, nil
}

// readOnce is rc.Read's callback: false asks to wait until the socket is readable.
func (s *rawSocket) readOnce(fd uintptr) bool {
	for {
		r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&s.rbuf[0])), uintptr(len(s.rbuf)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		s.rn, s.rerrno = int(r), e
		return true
	}
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
	s.wrest, s.werrno = iov, 0
	err := s.rc.Write(s.writeFn)
	clear(iov) // keep no payload alive
	s.iov, s.wrest = iov[:0], nil
	switch {
	case err != nil:
		return err
	case s.werrno != 0:
		return s.errnoError("write", "writev", s.werrno)
	}
	return nil
}

// writeSome is rc.Write's callback: it writes until s.wrest is empty, a real error, or the
// socket is full (false: wait until writable, then again).
func (s *rawSocket) writeSome(fd uintptr) bool {
	for len(s.wrest) > 0 {
		cnt := min(len(s.wrest), maxIovecs)
		r, _, e := syscall.RawSyscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&s.wrest[0])), uintptr(cnt))
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN, e == 0 && r == 0:
			return false
		case e != 0:
			s.werrno = e
			return true
		}
		s.wrest = advanceIovecs(s.wrest, int(r))
	}
	return true
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
