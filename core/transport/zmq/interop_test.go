package zmq

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/internal/syncbuf"
)

// Interop with pyzmq, the library the Python Scaler uses for SCALER_NETWORK_BACKEND=zmq.
// Debian's python3 is used on purpose: its python3-zmq is the packaged pyzmq.
const debianPython = "/usr/bin/python3"

// pyPeer is the Python side of the interop tests. Every mode checks what it receives itself
// (exact frames, so a stray extra frame fails) and prints OK; the Go test checks the rest.
const pyPeer = `
import select, signal, sys, zmq
signal.alarm(30)  # never outlive a broken test

def out(*a):
    print(*a, flush=True)

def fail(*a):
    out("FAIL", *a)
    sys.exit(1)

mode = sys.argv[1]
ctx = zmq.Context()

if mode == "dealer":  # a Python client/worker: DEALER with identity -> Go ROUTER
    endpoint, ident, n = sys.argv[2], sys.argv[3].encode(), int(sys.argv[4])
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.IDENTITY, ident)
    s.setsockopt(zmq.SNDHWM, 0)
    s.setsockopt(zmq.RCVHWM, 0)
    s.setsockopt(zmq.RCVTIMEO, 20000)
    s.connect(endpoint)
    for i in range(n):
        s.send(b"py-%d" % i)
    for i in range(n):
        frames = s.recv_multipart()
        if frames != [b"echo-py-%d" % i]:
            fail(i, frames)
    out("OK")

elif mode == "router":  # a Python scheduler: ROUTER <- Go DEALER
    ident, n = sys.argv[2].encode(), int(sys.argv[3])
    s = ctx.socket(zmq.ROUTER)
    s.setsockopt(zmq.IDENTITY, b"py-router")
    s.setsockopt(zmq.RCVTIMEO, 20000)
    port = s.bind_to_random_port("tcp://127.0.0.1")
    out("PORT", port)
    for i in range(n):
        frames = s.recv_multipart()
        if frames != [ident, b"go-%d" % i]:
            fail(i, frames)
        s.send_multipart([ident, b"echo-go-%d" % i])
    sys.stdin.read()  # keep the socket until the Go side has its replies
    out("OK")

elif mode == "sub":  # scaler_top: SUB <- Go PUB
    endpoint, n = sys.argv[2], int(sys.argv[3])
    s = ctx.socket(zmq.SUB)
    s.setsockopt(zmq.SUBSCRIBE, b"")
    s.setsockopt(zmq.RCVTIMEO, 20000)
    s.connect(endpoint)
    subscribed, i = False, 0
    while True:
        frames = s.recv_multipart()
        if frames == [b"probe"]:
            if not subscribed:
                subscribed = True
                out("SUBSCRIBED")
            continue
        if frames == [b"END"]:
            break
        if frames != [b"data-%d" % i]:
            fail(i, frames)
        i += 1
    if i != n:
        fail("got", i, "messages, want", n)
    out("OK")

elif mode == "pub":  # a Python scheduler's monitor: PUB -> Go SUB
    n = int(sys.argv[2])
    s = ctx.socket(zmq.PUB)
    s.setsockopt(zmq.SNDHWM, 0)
    port = s.bind_to_random_port("tcp://127.0.0.1")
    out("PORT", port)
    while not select.select([sys.stdin], [], [], 0.01)[0]:
        s.send(b"probe")
    if sys.stdin.readline().strip() != "go":
        fail("expected go")
    for i in range(n):
        s.send(b"data-%d" % i)
    s.send(b"END")
    sys.stdin.read()
    out("OK")
`

// pyProc is a running pyPeer.
type pyProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr syncbuf.Buffer
}

func startPy(t *testing.T, args ...string) *pyProc {
	t.Helper()
	if err := exec.Command(debianPython, "-c", "import zmq").Run(); err != nil {
		t.Skipf("pyzmq interop needs %s with the zmq module (apt install python3-zmq): %v", debianPython, err)
	}
	script := filepath.Join(t.TempDir(), "peer.py")
	if err := os.WriteFile(script, []byte(pyPeer), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	p := &pyProc{cmd: exec.CommandContext(ctx, debianPython, append([]string{script}, args...)...), lines: make(chan string, 16)}
	p.cmd.Stderr = &p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		p.stdin.Close()
		cancel() // kills the process if a failed test left it running
		<-readerDone
		p.cmd.Wait()
	})
	return p
}

// line returns the next line the script printed, failing on FAIL or exit.
func (p *pyProc) line(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			t.Fatalf("python peer exited early; stderr:\n%s", p.stderr.String())
		}
		if strings.HasPrefix(l, "FAIL") {
			t.Fatalf("python peer: %s\nstderr:\n%s", l, p.stderr.String())
		}
		return l
	case <-time.After(waitFor):
		t.Fatalf("python peer said nothing within %v; stderr:\n%s", waitFor, p.stderr.String())
	}
	return ""
}

// finish closes the script's stdin and expects OK and a clean exit.
func (p *pyProc) finish(t *testing.T) {
	t.Helper()
	p.stdin.Close()
	if l := p.line(t); l != "OK" {
		t.Fatalf("python peer said %q, want OK", l)
	}
	for range p.lines {
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("python peer: %v; stderr:\n%s", err, p.stderr.String())
	}
}

func (p *pyProc) port(t *testing.T) int {
	t.Helper()
	l := p.line(t)
	port, err := strconv.Atoi(strings.TrimPrefix(l, "PORT "))
	if !strings.HasPrefix(l, "PORT ") || err != nil {
		t.Fatalf("python peer said %q, want PORT n", l)
	}
	return port
}

// TestPyDealerToBinder: a pyzmq DEALER with an identity talks to our ROUTER.
func TestPyDealerToBinder(t *testing.T) {
	const n = 500
	b := bind(t, "tcp://127.0.0.1:0", quietOpts("123|scheduler|go"))
	ident := "Client|0123456789abcdef0123456789abcdef"
	py := startPy(t, "dealer", b.Addr().String(), ident, strconv.Itoa(n))
	for i := range n {
		in := recv(t, b.Messages(), "message from pyzmq")
		if in.Peer != ident || string(in.Data) != "py-"+strconv.Itoa(i) {
			t.Fatalf("message %d: %q from %q", i, in.Data, in.Peer)
		}
		if err := b.Send(in.Peer, []byte("echo-py-"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	py.finish(t)
}

// TestPyRouterToConnector: our DEALER with an identity talks to a pyzmq ROUTER.
func TestPyRouterToConnector(t *testing.T) {
	const n = 500
	ident := "Worker|go|0123456789abcdef"
	py := startPy(t, "router", ident, strconv.Itoa(n))
	c := connect(t, address.Address{Scheme: address.TCP, Host: "127.0.0.1", Port: py.port(t)}, quietOpts(ident))
	for i := range n {
		if err := c.Send([]byte("go-" + strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if m := recv(t, c.Messages(), "reply from pyzmq"); string(m) != "echo-go-"+strconv.Itoa(i) {
			t.Fatalf("reply %d = %q", i, m)
		}
	}
	py.finish(t)
}

// TestPySubscriberFromPublisher: a pyzmq SUB (as in scaler_top) receives from our PUB.
func TestPySubscriberFromPublisher(t *testing.T) {
	const n = 500
	p, err := be.Publish(context.Background(), address.MustParse("tcp://127.0.0.1:0"), quietOpts(""))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	py := startPy(t, "sub", p.Addr().String(), strconv.Itoa(n))
	// Probe until the subscription is active (ZMQ slow joiner), from this goroutine only so
	// that the probes cannot interleave with the data below.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(waitFor)
probing:
	for {
		p.Publish([]byte("probe"))
		select {
		case l, ok := <-py.lines:
			if !ok || l != "SUBSCRIBED" {
				t.Fatalf("python peer said %q (exited: %v); stderr:\n%s", l, !ok, py.stderr.String())
			}
			break probing
		case <-tick.C:
		case <-deadline:
			t.Fatal("python subscriber never received a probe")
		}
	}
	for i := range n {
		p.Publish([]byte("data-" + strconv.Itoa(i)))
	}
	p.Publish([]byte("END"))
	py.finish(t)
}

// TestPyPublisherToSubscriber: our SUB receives from a pyzmq PUB (a Python scheduler's monitor).
func TestPyPublisherToSubscriber(t *testing.T) {
	const n = 500
	py := startPy(t, "pub", strconv.Itoa(n))
	s, err := be.Subscribe(context.Background(), address.Address{Scheme: address.TCP, Host: "127.0.0.1", Port: py.port(t)}, quietOpts(""))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if m := recv(t, s.Messages(), "first probe"); string(m) != "probe" {
		t.Fatalf("got %q, want a probe", m)
	}
	if _, err := io.WriteString(py.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; {
		m := string(recv(t, s.Messages(), "published message"))
		switch {
		case m == "probe":
		case m == "END":
			if i != n {
				t.Fatalf("END after %d messages, want %d", i, n)
			}
			py.finish(t)
			return
		case m == "data-"+strconv.Itoa(i):
			i++
		default:
			t.Fatalf("message %d = %q", i, m)
		}
	}
}
