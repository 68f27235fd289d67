//go:build linux

package ymq

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/scaler-go/scaler/core/transport"
	"github.com/scaler-go/scaler/internal/freeport"
)

// A same-host connector to a loopback tcp:// binder takes the abstract Unix socket, also
// for a wildcard bind; with SCALER_YMQ_LOCAL=0 it takes TCP. Messages flow either way.
func TestLocalFastPath(t *testing.T) {
	for _, tc := range []struct {
		name, bind, local string
		wantUnix          bool
	}{
		{"loopback bind", "tcp://127.0.0.1:0", "", true},
		{"localhost dial", "tcp://127.0.0.1:0", "", true},
		{"wildcard bind", "tcp://0.0.0.0:0", "", true},
		{"turned off", "tcp://127.0.0.1:0", "0", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.local != "" {
				t.Setenv(EnvLocal, tc.local)
			}
			b := mustBind(t, tc.bind, opts("server", nil))
			addr := b.Addr()
			addr.Host = "127.0.0.1"
			if tc.name == "localhost dial" {
				addr.Host = "localhost"
			}
			k := mustConnect(t, addr, opts("client", nil))
			recvEvent(t, b, transport.EventConnected, "client")
			c := dialedConn(t, k)
			if _, unix := c.(*net.UnixConn); unix != tc.wantUnix {
				t.Fatalf("connection is %T (remote %s), want Unix %v", c, c.RemoteAddr(), tc.wantUnix)
			}
			if tc.wantUnix && !strings.HasPrefix(c.RemoteAddr().String(), "@scaler-ymq/") {
				t.Fatalf("remote %s", c.RemoteAddr())
			}
			if err := k.Send([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			if ev := recvEvent(t, b, transport.EventMessage, "client"); string(ev.Data) != "ping" {
				t.Fatalf("got %q", ev.Data)
			}
			if err := b.Send("client", []byte("pong")); err != nil {
				t.Fatal(err)
			}
			if m := recv(t, k.Messages(), "reply"); string(m) != "pong" {
				t.Fatalf("got %q", m)
			}
		})
	}
}

// A binder whose fast-path name is taken still binds and serves TCP.
func TestLocalNameTaken(t *testing.T) {
	port, err := freeport.Run(1)
	if err != nil {
		t.Fatal(err)
	}
	squat, err := net.Listen("unix", localName("127.0.0.1", port))
	if err != nil {
		t.Fatal(err)
	}
	defer squat.Close()
	b := mustBind(t, "tcp://127.0.0.1:"+strconv.Itoa(port), opts("server", nil))
	if b.local != nil {
		t.Fatal("binder took a fast-path name that was in use")
	}
	t.Setenv(EnvLocal, "0")
	k := mustConnect(t, b.Addr(), opts("client", nil))
	recvEvent(t, b, transport.EventConnected, "client")
	if c := dialedConn(t, k); c.RemoteAddr().Network() != "tcp" {
		t.Fatalf("connected over %s", c.RemoteAddr().Network())
	}
}

func TestLocalName(t *testing.T) {
	for host, want := range map[string]string{
		"127.0.0.1": "@scaler-ymq/127.0.0.1:7",
		"::1":       "@scaler-ymq/[::1]:7",
		"":          "@scaler-ymq/*:7",
		"0.0.0.0":   "@scaler-ymq/*:7",
		"::":        "@scaler-ymq/*:7",
	} {
		if got := localName(host, 7); got != want {
			t.Errorf("localName(%q) = %q, want %q", host, got, want)
		}
	}
}
