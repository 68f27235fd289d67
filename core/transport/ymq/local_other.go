//go:build !linux

package ymq

import (
	"context"
	"net"
)

// The local fast path uses Linux abstract sockets; elsewhere it is always off.

func listenLocal(context.Context, string, int) net.Listener { return nil }

func dialLocal(context.Context, string, int) (net.Conn, bool) { return nil, false }
