// Package address parses and prints the transport addresses of spec/protocol.md §1.2:
// tcp://HOST:PORT, tls://HOST:PORT, ws://HOST:PORT[/PATH], wss://HOST:PORT[/PATH],
// ipc://PATH and inproc://NAME.
package address

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Scheme is the part of an address before "://".
type Scheme string

// The schemes of spec/protocol.md §1.2.
const (
	TCP    Scheme = "tcp"
	TLS    Scheme = "tls"
	WS     Scheme = "ws"
	WSS    Scheme = "wss"
	IPC    Scheme = "ipc"
	InProc Scheme = "inproc"
)

// ErrInvalid is wrapped by every parse error.
var ErrInvalid = errors.New("invalid address")

// Address is a parsed transport address. Host and Port are set for network schemes,
// Path for ipc/inproc (the socket path or name) and optionally for ws/wss (the URL path).
type Address struct {
	Scheme Scheme
	Host   string // without IPv6 brackets
	Port   int
	Path   string
}

// HasPort reports whether the scheme carries a host and port.
func (s Scheme) HasPort() bool { return s == TCP || s == TLS || s == WS || s == WSS }

// Secure reports whether the scheme runs over TLS.
func (s Scheme) Secure() bool { return s == TLS || s == WSS }

// WebSocket reports whether the scheme carries YMQ over WebSocket.
func (s Scheme) WebSocket() bool { return s == WS || s == WSS }

// Parse parses s. Errors are one line naming the address and the problem.
func Parse(s string) (Address, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return Address{}, fmt.Errorf("%w %q: expected scheme://..., one of tcp, tls, ws, wss, ipc, inproc", ErrInvalid, s)
	}
	a := Address{Scheme: Scheme(scheme)}
	switch a.Scheme {
	case IPC, InProc:
		if rest == "" {
			return Address{}, fmt.Errorf("%w %q: empty %s path", ErrInvalid, s, scheme)
		}
		a.Path = rest
		return a, nil
	case TCP, TLS, WS, WSS:
	default:
		return Address{}, fmt.Errorf("%w %q: unknown scheme %q, expected one of tcp, tls, ws, wss, ipc, inproc", ErrInvalid, s, scheme)
	}
	hostport := rest
	if a.Scheme == WS || a.Scheme == WSS {
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			hostport, a.Path = rest[:i], rest[i:]
		}
	} else if strings.Contains(rest, "/") {
		return Address{}, fmt.Errorf("%w %q: a %s address has no path", ErrInvalid, s, scheme)
	}
	i := strings.LastIndexByte(hostport, ':')
	if i < 0 {
		return Address{}, fmt.Errorf("%w %q: missing port, expected %s://HOST:PORT", ErrInvalid, s, scheme)
	}
	host, portText := hostport[:i], hostport[i+1:]
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if host == "" {
		return Address{}, fmt.Errorf("%w %q: missing host", ErrInvalid, s)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return Address{}, fmt.Errorf("%w %q: port %q is not a number between 0 and 65535", ErrInvalid, s, portText)
	}
	a.Host, a.Port = host, port
	return a, nil
}

// MustParse is Parse for constants in tests and defaults; it panics on error.
func MustParse(s string) Address {
	a, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return a
}

// String prints the address in the form Parse accepts.
func (a Address) String() string {
	if !a.Scheme.HasPort() {
		return string(a.Scheme) + "://" + a.Path
	}
	return string(a.Scheme) + "://" + a.HostPort() + a.Path
}

// HostPort is "host:port" with brackets around IPv6 literals, as net.Dial wants it.
func (a Address) HostPort() string { return net.JoinHostPort(a.Host, strconv.Itoa(a.Port)) }

// WithPort returns a copy with another port (used for the derived object storage and monitor addresses).
func (a Address) WithPort(port int) Address {
	a.Port = port
	return a
}

// IsZero reports whether the address is unset.
func (a Address) IsZero() bool { return a.Scheme == "" }

// UnmarshalText lets TOML decoders and flag parsers fill an Address.
func (a *Address) UnmarshalText(b []byte) error {
	p, err := Parse(string(b))
	if err != nil {
		return err
	}
	*a = p
	return nil
}

// MarshalText prints the address.
func (a Address) MarshalText() ([]byte, error) { return []byte(a.String()), nil }
