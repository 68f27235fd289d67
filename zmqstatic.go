//go:build zmqstatic

package main

// Static builds (make build) link Debian's libzmq.a, which needs GSSAPI symbols that Debian
// has no static library for; gssstub provides refusing stand-ins (see its package comment).
// The zmq backend itself is linked through the applets, which register both backends.
import _ "github.com/scaler-go/scaler/internal/gssstub"
