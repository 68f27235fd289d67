//go:build linux

package ymq

import (
	"bytes"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// One writev of more buffers than the kernel takes at once (IOV_MAX) and more bytes than
// the socket holds: the writer parks while the socket is full and resumes mid-buffer.
func TestRawSocketWritevLargeBatch(t *testing.T) {
	a, b := tcpPair(t)
	_ = a.(*net.TCPConn).SetWriteBuffer(64 << 10)
	w := newRawSocket(a)
	var bufs [][]byte
	var want []byte
	for i := range 3000 {
		p := bytes.Repeat([]byte{byte(i)}, 1+(i*37)%3000)
		if i%100 == 0 {
			p = nil // empty buffers are skipped
		}
		bufs = append(bufs, p)
		want = append(want, p...)
	}
	done := make(chan error, 1)
	go func() { done <- w.writev(bufs) }()
	got := make([]byte, len(want))
	r := newRawSocket(b)
	_ = b.SetReadDeadline(time.Now().Add(waitFor))
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := recv(t, done, "writev"); err != nil {
		t.Fatalf("writev: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("bytes differ")
	}
	if len(w.iov) != 0 || cap(w.iov) == 0 {
		t.Errorf("iovec scratch: len %d cap %d, want emptied and kept", len(w.iov), cap(w.iov))
	}
}

// Reads report the peer's FIN as io.EOF, a reset as an error, and a read deadline as a
// timeout, as net.Conn does.
func TestRawSocketReadEnds(t *testing.T) {
	t.Run("eof", func(t *testing.T) {
		a, b := tcpPair(t)
		r := newRawSocket(b)
		_ = a.Close()
		if _, err := r.Read(make([]byte, 8)); err != io.EOF {
			t.Fatalf("got %v, want io.EOF", err)
		}
	})
	t.Run("reset", func(t *testing.T) {
		a, b := tcpPair(t)
		r := newRawSocket(b)
		_ = a.(*net.TCPConn).SetLinger(0)
		_ = a.Close()
		_, err := r.Read(make([]byte, 8))
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("got %v, want ECONNRESET", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		_, b := tcpPair(t)
		r := newRawSocket(b)
		_ = b.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		_, err := r.Read(make([]byte, 8))
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("got %v, want a timeout", err)
		}
	})
	t.Run("closed locally", func(t *testing.T) {
		_, b := tcpPair(t)
		r := newRawSocket(b)
		_ = b.Close()
		if _, err := r.Read(make([]byte, 8)); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("got %v, want net.ErrClosed", err)
		}
	})
}

func TestAdvanceIovecs(t *testing.T) {
	mk := func(sizes ...int) []syscall.Iovec {
		var iov []syscall.Iovec
		for i, n := range sizes {
			b := bytes.Repeat([]byte{byte('a' + i)}, n)
			v := syscall.Iovec{Base: &b[0]} // the pointer keeps b alive
			v.SetLen(n)
			iov = append(iov, v)
		}
		return iov
	}
	flat := func(iov []syscall.Iovec) string {
		var s []byte
		for _, v := range iov {
			s = append(s, unsafeSlice(v)...)
		}
		return string(s)
	}
	tests := []struct {
		sizes []int
		n     int
		want  string
	}{
		{[]int{3, 2}, 0, "aaabb"},
		{[]int{3, 2}, 1, "aabb"},
		{[]int{3, 2}, 3, "bb"},
		{[]int{3, 2}, 4, "b"},
		{[]int{3, 2}, 5, ""},
		{[]int{1, 1, 4}, 3, "ccc"},
	}
	for _, tt := range tests {
		if got := flat(advanceIovecs(mk(tt.sizes...), tt.n)); got != tt.want {
			t.Errorf("%v advanced by %d: %q, want %q", tt.sizes, tt.n, got, tt.want)
		}
	}
}

func unsafeSlice(v syscall.Iovec) []byte { return unsafe.Slice(v.Base, v.Len) }
