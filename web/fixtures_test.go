package web

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/scaler-go/scaler/core/monitor"
	"github.com/scaler-go/scaler/core/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// evilWorker is a worker name that would run script if a page did not escape it.
const evilWorker = `<script>alert(1)</script>`

// fakeClock is a settable clock shared by the hub and the server.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// harness is a hub fed by the test (no network) behind an httptest server.
type harness struct {
	hub     *Hub
	srv     *Server
	ts      *httptest.Server
	clock   *fakeClock
	updates chan monitor.Update
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newHarness(t *testing.T, interval time.Duration) *harness {
	t.Helper()
	clock := &fakeClock{t: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	h := &harness{clock: clock, updates: make(chan monitor.Update)}
	h.hub = NewHub(HubConfig{
		Monitor:  "tcp://127.0.0.1:6380",
		Interval: interval,
		Model:    monitor.ModelConfig{TaskLog: 100, StaleAfter: 5 * time.Second},
		Now:      clock.Now,
		Logger:   quietLogger(),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.hub.Run(ctx, h.updates)
	}()
	h.srv = NewServer(h.hub, ServerConfig{Logger: quietLogger(), Now: clock.Now})
	h.ts = httptest.NewServer(h.srv)
	// Cleanups run last-in first-out: end live channels, then the server, then the hub.
	t.Cleanup(func() {
		cancel()
		<-done
	})
	t.Cleanup(h.ts.Close)
	t.Cleanup(h.srv.Close)
	return h
}

// apply feeds updates (stamped with the fake clock when unstamped) and waits until a
// snapshot that includes them is published.
func (h *harness) apply(t *testing.T, ups ...monitor.Update) {
	t.Helper()
	for _, u := range ups {
		if u.At.IsZero() {
			u.At = h.clock.Now()
		}
		select {
		case h.updates <- u:
		case <-time.After(5 * time.Second):
			t.Fatal("hub does not take updates")
		}
	}
	h.sync(t)
}

// sync waits for the next published snapshot.
func (h *harness) sync(t *testing.T) {
	t.Helper()
	select {
	case <-h.hub.Changed():
	case <-time.After(5 * time.Second):
		t.Fatal("hub published no snapshot")
	}
}

func msg(m protocol.Message) monitor.Update { return monitor.Update{Msg: m} }

func connected() monitor.Update { return monitor.Update{Connected: true} }

// worker returns a worker row of a status report.
func worker(name string, cpu uint16, sent, free, queued uint32) protocol.WorkerStatus {
	return protocol.WorkerStatus{
		WorkerID: []byte(name), Agent: protocol.Resource{CPU: 5, RSS: 30 << 20}, RSSFree: 8 << 30,
		Free: free, Sent: sent, Queued: queued, LagUS: 1200, LastS: 1, ITL: "100",
		Processors: []protocol.ProcessorStatus{{PID: 42, Initialized: true, HasTask: sent > 0, Resource: protocol.Resource{CPU: cpu, RSS: 100 << 20}}},
		MemLimit:   1 << 30,
	}
}

// status builds a status report with the given workers, one manager owning the first two,
// two clients and some task counters.
func status(workers ...protocol.WorkerStatus) *protocol.StateScheduler {
	st := &protocol.StateScheduler{
		Received:        []protocol.Counter{{Name: "TaskResult", Number: 7}, {Name: "WorkerHeartbeat", Number: 40}},
		Sent:            []protocol.Counter{{Name: "Task", Number: 9}},
		Scheduler:       protocol.Resource{CPU: 125, RSS: 50 << 20},
		RSSFree:         12 << 30,
		Clients:         []protocol.ClientTasks{{Client: []byte("Client|<b>bold</b>"), NumTask: 3}, {Client: []byte("Client|quiet"), NumTask: 0}},
		NumberOfObjects: 11,
		TaskStates: []protocol.StateCount{
			{State: uint8(protocol.StateInactive), Count: 2}, {State: uint8(protocol.StateRunning), Count: 1},
			{State: uint8(protocol.StateSuccess), Count: 7}, {State: uint8(protocol.StateFailed), Count: 1},
		},
		Workers: workers,
	}
	if len(workers) >= 2 {
		st.ManagedWorkers = []protocol.ManagedWorkers{{WorkerManagerID: []byte("wm-1"), WorkerIDs: [][]byte{workers[0].WorkerID, workers[1].WorkerID}}}
		st.Managers = []protocol.ManagerDetail{{WorkerManagerID: []byte("wm-1"), Identity: "Manager|wm-1|abc", LastSeenS: 2,
			MaxTaskConcurrency: 8, Capabilities: "gpu linux", PendingWorkers: 3}}
	}
	return st
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// sseReader reads Server-Sent Events from a live channel.
type sseReader struct {
	resp   *http.Response
	events chan string
	errs   chan error
	done   chan struct{}
}

func openEvents(t *testing.T, url string) *sseReader {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	r := &sseReader{resp: resp, events: make(chan string, 100), errs: make(chan error, 1), done: make(chan struct{})}
	t.Cleanup(func() {
		close(r.done)
		resp.Body.Close()
	})
	go func() {
		defer close(r.events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		var data strings.Builder
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "data: "):
				data.WriteString(strings.TrimPrefix(line, "data: "))
			case line == "" && data.Len() > 0:
				select {
				case r.events <- data.String():
				case <-r.done:
					return
				}
				data.Reset()
			}
		}
		r.errs <- sc.Err()
	}()
	return r
}

// next returns the next event's data, failing after d.
func (r *sseReader) next(t *testing.T, d time.Duration) string {
	t.Helper()
	select {
	case e, ok := <-r.events:
		if !ok {
			t.Fatal(fmt.Errorf("event stream ended: %v", <-r.errs))
		}
		return e
	case <-time.After(d):
		t.Fatalf("no event within %s", d)
	}
	return ""
}
