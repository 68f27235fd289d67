package address

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Address
		err  bool
	}{
		{in: "tcp://127.0.0.1:6378", want: Address{Scheme: TCP, Host: "127.0.0.1", Port: 6378}},
		{in: "tcp://::1:6378", want: Address{Scheme: TCP, Host: "::1", Port: 6378}},
		{in: "tcp://[::1]:6378", want: Address{Scheme: TCP, Host: "::1", Port: 6378}},
		{in: "tls://10.0.0.1:443", want: Address{Scheme: TLS, Host: "10.0.0.1", Port: 443}},
		{in: "ws://127.0.0.1:80", want: Address{Scheme: WS, Host: "127.0.0.1", Port: 80}},
		{in: "wss://127.0.0.1:80/a/b", want: Address{Scheme: WSS, Host: "127.0.0.1", Port: 80, Path: "/a/b"}},
		{in: "ipc:///tmp/x.sock", want: Address{Scheme: IPC, Path: "/tmp/x.sock"}},
		{in: "inproc://name", want: Address{Scheme: InProc, Path: "name"}},
		{in: "tcp://127.0.0.1", err: true},
		{in: "tcp://127.0.0.1:x", err: true},
		{in: "tcp://127.0.0.1:70000", err: true},
		{in: "tcp://:80", err: true},
		{in: "http://127.0.0.1:80", err: true},
		{in: "127.0.0.1:80", err: true},
		{in: "ipc://", err: true},
		{in: "tcp://1.2.3.4:5/x", err: true},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if tt.err {
			if err == nil || !errors.Is(err, ErrInvalid) {
				t.Errorf("Parse(%q) = %v, %v; want ErrInvalid", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			continue
		}
		again, err := Parse(got.String())
		if err != nil || again != got {
			t.Errorf("round trip of %q through %q = %+v, %v", tt.in, got.String(), again, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"tcp://127.0.0.1:1", "ws://[::1]:2/p", "ipc:///x", "tls://a:0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			return
		}
		b, err := Parse(a.String())
		if err != nil || a != b {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, a, a.String(), b, err)
		}
	})
}

func TestSchemeWebSocket(t *testing.T) {
	for s, want := range map[Scheme]bool{WS: true, WSS: true, TCP: false, TLS: false, IPC: false, InProc: false} {
		if s.WebSocket() != want {
			t.Errorf("%s.WebSocket() = %v", s, !want)
		}
	}
}
