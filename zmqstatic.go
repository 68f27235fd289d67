//go:build zmqstatic

package main

// Static builds (make build) link Debian's libzmq.a, which needs GSSAPI symbols that Debian
// has no static library for; gssstub provides refusing stand-ins (see its package comment).
// The zmq backend is imported here too so that every static build links libzmq and proves the
// recipe works, even before an applet uses the backend.
import (
	_ "github.com/scaler-go/scaler/core/transport/zmq"
	_ "github.com/scaler-go/scaler/internal/gssstub"
)
