//go:build !linux

package ymq

import (
	"context"
	"net"
)

// EnvLocal names the environment variable that turns the local fast path off ("0"); the
// fast path uses Linux abstract sockets, so elsewhere it is always off.
const EnvLocal = "SCALER_YMQ_LOCAL"

func listenLocal(context.Context, string, int) net.Listener { return nil }

func dialLocal(context.Context, string, int) (net.Conn, bool) { return nil, false }
