package zmq

import (
	"strconv"
	"testing"
	"time"

	zmq4 "github.com/pebbe/zmq4"

	"github.com/scaler-go/scaler/core/transport"
)

// BenchmarkConnectorToBinder64B measures one-way 64-byte messages per second from a Connector
// to a Binder over loopback TCP, and in the same run the same traffic through bare
// pebbe/zmq4 DEALER -> ROUTER sockets of one context (the topology of ours: one libzmq context
// per process), each used by one goroutine with blocking calls and no wrapper. The two run in
// alternating rounds so that both see the same machine noise; the number to watch is
// "ratio" = ours / bare. "msgs/batch" is how many queued sends one wake-up of the
// Connector's owner goroutine handed to libzmq on average.
func BenchmarkConnectorToBinder64B(b *testing.B) {
	const rounds = 10
	payload := make([]byte, 64)
	ours := newOursPair(b)
	bare := newBarePair(b)
	defer bare.close()
	var oursTime, bareTime time.Duration
	b.ResetTimer()
	for r := range rounds {
		n := b.N / rounds
		if r == rounds-1 {
			n = b.N - n*(rounds-1)
		}
		oursTime += ours.run(b, n, payload)
		bareTime += bare.run(b, n, payload)
	}
	b.StopTimer()
	o := float64(b.N) / oursTime.Seconds()
	r := float64(b.N) / bareTime.Seconds()
	b.ReportMetric(o, "msgs/s")
	b.ReportMetric(r, "bare-msgs/s")
	b.ReportMetric(o/r, "ratio")
	if batches := ours.c.(*connector).batches.Load(); batches > 0 {
		b.ReportMetric(float64(b.N)/float64(batches), "msgs/batch")
	}
}

type oursPair struct {
	b transport.Binder
	c transport.Connector
}

func newOursPair(b *testing.B) *oursPair {
	bd := bind(b, "tcp://127.0.0.1:0", quietOpts("bench-binder"))
	c := connect(b, bd.Addr(), quietOpts("bench-connector"))
	c.Send([]byte("warm-up")) // wait until the connection is up
	recv(b, bd.Messages(), "warm-up")
	return &oursPair{b: bd, c: c}
}

func (p *oursPair) run(b *testing.B, n int, payload []byte) time.Duration {
	start := time.Now()
	go func() {
		for range n {
			p.c.Send(payload) // Send only reads the slice, so one slice serves every message
		}
	}()
	in := p.b.Messages()
	for range n {
		if _, ok := <-in; !ok {
			b.Fatal(p.b.Err())
		}
	}
	return time.Since(start)
}

type barePair struct {
	zctx           *zmq4.Context
	router, dealer *zmq4.Socket
}

func newBarePair(b *testing.B) *barePair {
	zctx, err := zmq4.NewContext()
	if err != nil {
		b.Fatal(err)
	}
	p := &barePair{zctx: zctx}
	must := func(err error) {
		if err != nil {
			p.close()
			b.Fatal(err)
		}
	}
	p.router, err = zctx.NewSocket(zmq4.ROUTER)
	must(err)
	p.dealer, err = zctx.NewSocket(zmq4.DEALER)
	must(err)
	for _, s := range []*zmq4.Socket{p.router, p.dealer} {
		must(s.SetSndhwm(0))
		must(s.SetRcvhwm(0))
		must(s.SetLinger(0))
	}
	must(p.dealer.SetIdentity("bench-dealer"))
	port, err := bindRandom(p.router)
	must(err)
	must(p.dealer.Connect("tcp://127.0.0.1:" + strconv.Itoa(port)))
	_, err = p.dealer.SendBytes([]byte("warm-up"), 0)
	must(err)
	_, err = p.router.RecvMessageBytes(0)
	must(err)
	return p
}

func (p *barePair) run(b *testing.B, n int, payload []byte) time.Duration {
	start := time.Now()
	sent := make(chan error, 1)
	go func() {
		// The DEALER is lent to this goroutine until it reports on sent.
		for range n {
			if _, err := p.dealer.SendBytes(payload, 0); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	for range n {
		if _, err := p.router.RecvMessageBytes(0); err != nil {
			b.Fatal(err)
		}
	}
	d := time.Since(start)
	if err := <-sent; err != nil {
		b.Fatal(err)
	}
	return d
}

func (p *barePair) close() {
	for _, s := range []*zmq4.Socket{p.router, p.dealer} {
		if s != nil {
			s.Close()
		}
	}
	p.zctx.Term()
}
