package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/a-h/templ"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/scaler-go/scaler/core/monitor"
)

// keepaliveEvery is how often an idle live channel sends a comment, so proxies keep it open
// and a browser that went away is noticed.
const keepaliveEvery = 15 * time.Second

// ServerConfig configures a Server.
type ServerConfig struct {
	// Logger receives request errors; nil means slog.Default().
	Logger *slog.Logger
	// Now returns the current time for /healthz; nil means time.Now.
	Now func() time.Time
}

// Server is the dashboard's HTTP handler. It reads snapshots from a Hub and holds no
// cluster state of its own.
type Server struct {
	hub  *Hub
	log  *slog.Logger
	now  func() time.Time
	mux  *http.ServeMux
	reg  *prometheus.Registry
	quit chan struct{}
	once sync.Once
}

// NewServer returns the handler for every route of the dashboard:
//
//	GET /, /workers, /tasks, /managers, /clients   the pages (HTML)
//	GET /events?page=NAME&...                        the live channel (Server-Sent Events)
//	GET /metrics                                     Prometheus text format
//	GET /healthz                                     200 when the monitor stream is live, else 503
//	GET /static/{name}                               the embedded script and style sheet
func NewServer(h *Hub, cfg ServerConfig) *Server {
	s := &Server{hub: h, log: cfg.Logger, now: cfg.Now, mux: http.NewServeMux(), quit: make(chan struct{})}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.reg = prometheus.NewRegistry()
	s.reg.MustRegister(newCollector(h, s.now), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	for _, p := range pages {
		pattern := "GET " + p.Path
		if p.Path == "/" {
			pattern = "GET /{$}"
		}
		s.mux.HandleFunc(pattern, s.page(p.Name))
	}
	s.mux.HandleFunc("GET /events", s.events)
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /static/{name}", serveStatic)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	}))
	return s
}

// contentSecurityPolicy allows nothing but this server's own script, styles and live
// channel: even if some text escaped escaping, a browser would not run it.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// ServeHTTP adds the security headers every response carries and dispatches.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	s.mux.ServeHTTP(w, r)
}

// Close ends every open live channel; Serve calls it on shutdown because an event stream
// never goes idle on its own.
func (s *Server) Close() {
	s.once.Do(func() { close(s.quit) })
}

// Serve serves HTTP on ln until ctx ends, then shuts down: live channels are closed at
// once, other requests get up to 5 s to finish.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		s.Close()
		return fmt.Errorf("web GUI server on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	s.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("web GUI server on %s: %w", ln.Addr(), err)
	}
	return nil
}

// page renders a whole page from the latest snapshot.
func (s *Server) page(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := parseView(name, r.URL.Query())
		var buf bytes.Buffer
		if err := document(v, s.hub.Snapshot()).Render(r.Context(), &buf); err != nil {
			s.log.Warn("rendering page failed", "page", name, "err", err)
			http.Error(w, "rendering failed", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(buf.Bytes())
	}
}

// region is one live part of a page: an element with data-region=name whose content the
// live channel replaces.
type region struct {
	name   string
	render func(v view, s *Snapshot) templ.Component
}

var connRegion = region{"conn", func(_ view, s *Snapshot) templ.Component { return connBadge(s) }}

// regions lists the live parts of each page. They must match the data-region elements the
// page templates render.
var regions = map[string][]region{
	pageOverview: {
		connRegion,
		{"scheduler", func(_ view, s *Snapshot) templ.Component { return schedulerCard(s) }},
		{"cluster", func(_ view, s *Snapshot) templ.Component { return clusterCard(s) }},
		{"charts", func(v view, s *Snapshot) templ.Component { return charts(v, s) }},
		{"states", func(_ view, s *Snapshot) templ.Component { return stateTable(s) }},
		{"events", func(_ view, s *Snapshot) templ.Component { return eventList(s) }},
		{"messages", func(_ view, s *Snapshot) templ.Component { return messageTable(s) }},
	},
	pageWorkers: {
		connRegion,
		{"workers", func(v view, s *Snapshot) templ.Component { return workerTableView(v, workerTable(s, v)) }},
	},
	pageTasks: {
		connRegion,
		{"tasks", func(v view, s *Snapshot) templ.Component { return taskTableView(v, s, taskTable(s, v)) }},
	},
	pageManagers: {
		connRegion,
		{"managers", func(_ view, s *Snapshot) templ.Component { return managerTable(s) }},
	},
	pageClients: {
		connRegion,
		{"clients", func(_ view, s *Snapshot) templ.Component { return clientTable(s) }},
	},
}

// renderRegion renders one region of a snapshot, once per snapshot and view however many
// browsers ask.
func renderRegion(ctx context.Context, snap *Snapshot, v view, rg region) (string, error) {
	key := rg.name + "|" + v.key()
	if html, ok := snap.memo.Load(key); ok {
		return html.(string), nil
	}
	var buf bytes.Buffer
	if err := rg.render(v, snap).Render(ctx, &buf); err != nil {
		return "", fmt.Errorf("render region %s: %w", rg.name, err)
	}
	html, _ := snap.memo.LoadOrStore(key, buf.String())
	return html.(string), nil
}

// liveUpdate is one message of the live channel: the snapshot version and the new HTML of
// every region that changed since the previous message on this connection.
type liveUpdate struct {
	Version uint64            `json:"v"`
	Regions map[string]string `json:"r"`
}

// events is the live channel: Server-Sent Events carrying region updates for one view. The
// first message has every region; later ones only what changed, at most one per published
// snapshot, so a browser gets at most one update per broadcast interval.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name := q.Get("page")
	if !knownPage(name) {
		http.Error(w, "the page parameter must name a page: overview, workers, tasks, managers or clients", http.StatusBadRequest)
		return
	}
	v := parseView(name, q)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	// Tell buffering reverse proxies (nginx) to pass events through at once.
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// Browsers reconnect after this many milliseconds when the connection drops. Flushing
	// it at once answers the request before any rendering: the page's load event does not
	// wait for the live channel.
	if _, err := fmt.Fprint(w, "retry: 1000\n\n"); err != nil {
		return
	}
	if err := rc.Flush(); err != nil {
		return
	}
	keepalive := time.NewTicker(keepaliveEvery)
	defer keepalive.Stop()
	sent := map[string]string{}
	// A page asks with the version of the snapshot it was rendered from; while that is still
	// the latest, the browser already shows every region and the first message can be skipped.
	if have, err := strconv.ParseUint(q.Get("v"), 10, 64); err == nil {
		if snap := s.hub.Snapshot(); snap.Version == have {
			for _, rg := range regions[name] {
				if html, err := renderRegion(r.Context(), snap, v, rg); err == nil {
					sent[rg.name] = html
				}
			}
		}
	}
	for {
		changed := s.hub.Changed()
		snap := s.hub.Snapshot()
		up := liveUpdate{Version: snap.Version, Regions: map[string]string{}}
		for _, rg := range regions[name] {
			html, err := renderRegion(r.Context(), snap, v, rg)
			if err != nil {
				if r.Context().Err() == nil {
					s.log.Warn("live update failed", "err", err)
				}
				return
			}
			if sent[rg.name] != html {
				up.Regions[rg.name] = html
				sent[rg.name] = html
			}
		}
		if len(up.Regions) > 0 {
			data, err := json.Marshal(up)
			if err != nil {
				s.log.Warn("live update failed", "err", err)
				return
			}
			// JSON has no raw newlines, so the whole message is one data line.
			if _, err := fmt.Fprintf(w, "data: %s\n\n", data); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
		select {
		case <-changed:
		case <-keepalive.C:
			if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		case <-r.Context().Done():
			return
		case <-s.quit:
			return
		}
	}
}

// healthz answers 200 while the monitor stream is connected and the scheduler's status
// reports are fresh, else 503; the body says why in one line.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ok, reason := health(s.hub.Snapshot(), s.now())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	fmt.Fprintln(w, reason)
}

func health(s *Snapshot, now time.Time) (bool, string) {
	why := ""
	if s.ConnErr != "" {
		why = ": " + s.ConnErr
	}
	switch connState(s, now) {
	case "connecting":
		return false, fmt.Sprintf("not connected to monitor %s yet", s.Monitor)
	case "down":
		return false, fmt.Sprintf("monitor %s disconnected%s", s.Monitor, why)
	case "waiting":
		return false, fmt.Sprintf("connected to monitor %s, no status report yet", s.Monitor)
	case "stale":
		return false, fmt.Sprintf("stale: no status report from %s for %s (stale after %s)",
			s.Monitor, monitor.FormatAge(s.StatusAge(now)), s.StaleAfter)
	}
	return true, fmt.Sprintf("ok: status report %.1fs old, %d workers", s.StatusAge(now).Seconds(), len(s.Workers))
}
