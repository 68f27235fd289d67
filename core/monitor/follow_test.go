package monitor

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/transport"
	_ "github.com/scaler-go/scaler/core/transport/ymq"
)

// TestFollowWaitsForTheScheduler starts following a monitor address nobody publishes on,
// then starts the publisher: Follow reports the failed attempts, connects once the publisher
// is up and delivers its messages, and closes its channel after the context ends.
func TestFollowWaitsForTheScheduler(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := address.MustParse("tcp://" + l.Addr().String())
	l.Close()
	b, err := transport.Lookup("ymq")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	updates := Follow(ctx, StreamConfig{Address: addr, Backend: b, Role: "test", Logger: log,
		FirstConnect: transport.RetryPolicy{MaxRetries: 1, InitialDelay: 20 * time.Millisecond}}, 50*time.Millisecond)

	next := func() Update {
		t.Helper()
		select {
		case u, ok := <-updates:
			if !ok {
				t.Fatal("updates closed early")
			}
			return u
		case <-time.After(10 * time.Second):
			t.Fatal("no update")
		}
		return Update{}
	}
	if u := next(); u.Msg != nil || u.Connected || u.Err == nil {
		t.Fatalf("first update %+v, want a failed connection", u)
	}

	pub, err := b.Publish(ctx, addr, transport.Options{Identity: "test-scheduler", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	raw, err := protocol.Encode(&protocol.StateScheduler{NumberOfObjects: 7})
	if err != nil {
		t.Fatal(err)
	}
	// Publish until the end: a message sent before the subscriber is registered is lost.
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				pub.Publish(append([]byte(nil), raw...))
			}
		}
	}()
	defer func() { <-pubDone }()
	defer cancel()
	sawConnect := false
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		u := next()
		if u.Msg == nil {
			sawConnect = sawConnect || u.Connected
			continue
		}
		st, ok := u.Msg.(*protocol.StateScheduler)
		if !ok || st.NumberOfObjects != 7 {
			t.Fatalf("message %#v", u.Msg)
		}
		if !sawConnect {
			t.Fatal("message before the connection was reported")
		}
		cancel()
		for range updates {
		}
		return
	}
	t.Fatal("no message from the publisher")
}
