//go:build linux

package ymq

import (
	"context"
	"net"
	"os"
	"strconv"
	"syscall"
)

// The local fast path. A binder on plain tcp:// also listens on a Linux abstract Unix socket
// named after its address, and a connector to a loopback tcp:// address tries that socket
// before TCP. Processes on one host then skip the kernel's TCP/IP path, which on the
// development VM cut a task's end-to-end latency by about a quarter; peers elsewhere, Python
// peers and other network namespaces (where the name does not exist) use TCP as before.
// The wire protocol is the same on both.
//
// SCALER_YMQ_LOCAL=0 turns the fast path off in the process that has it set (binder or
// connector).

func localEnabled() bool { return os.Getenv(EnvLocal) != "0" }

// localName is the abstract socket name of a binder on host:port; a wildcard bind (empty,
// 0.0.0.0 or ::) is "*".
func localName(host string, port int) string {
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "*"
	}
	return "@scaler-ymq/" + net.JoinHostPort(host, strconv.Itoa(port))
}

// listenLocal opens the fast-path listener of a tcp:// binder, or returns nil when it is off
// or the name is taken (by another binder on the same address in another process: TCP then
// tells which one wins, and connectors fall back to it).
func listenLocal(ctx context.Context, host string, port int) net.Listener {
	if !localEnabled() {
		return nil
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "unix", localName(host, port))
	if err != nil {
		return nil
	}
	return ln
}

// isLoopback reports whether host names this machine over loopback.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// dialLocal connects to the fast-path socket of a binder on host:port, trying the exact
// address ("localhost" also as 127.0.0.1 and ::1) and then a wildcard bind on that port. It accepts only a listener run by this
// user, so another local user cannot stand in for a scheduler by taking the name first.
func dialLocal(ctx context.Context, host string, port int) (net.Conn, bool) {
	if !localEnabled() || !isLoopback(host) {
		return nil, false
	}
	names := []string{localName(host, port)}
	if host == "localhost" {
		names = append(names, localName("127.0.0.1", port), localName("::1", port))
	}
	var d net.Dialer
	for _, name := range append(names, localName("", port)) {
		c, err := d.DialContext(ctx, "unix", name)
		if err != nil {
			continue
		}
		if sameUser(c) {
			return c, true
		}
		_ = c.Close()
	}
	return nil, false
}

func sameUser(c net.Conn) bool {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return false
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return false
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil || credErr != nil {
		return false
	}
	return int(cred.Uid) == os.Getuid()
}
