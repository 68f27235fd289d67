// Package web is scaler_gui: server-side rendered pages (github.com/a-h/templ) over the
// scheduler's monitor stream, live updates to browsers over Server-Sent Events, a Prometheus
// /metrics endpoint and a /healthz probe. Every asset is embedded in the binary.
//
// One Hub owns the monitor.Model: its goroutine applies monitor updates and, once per
// broadcast interval, publishes an immutable Snapshot. HTTP handlers render snapshots and
// never touch the model, so the scheduler serves one subscription however many browsers
// watch, and each browser gets at most one update per interval with everything that
// happened in between folded in.
package web

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scaler-go/scaler/core/monitor"
)

// HubConfig configures a Hub.
type HubConfig struct {
	// Monitor is the monitor address, shown on the pages.
	Monitor string
	// Interval is the broadcast period: how often a snapshot is published (default 500 ms).
	Interval time.Duration
	// Model bounds what the model keeps; its zero fields get monitor's defaults.
	Model monitor.ModelConfig
	// Now returns the current time; nil means time.Now. Tests set it to control ages.
	Now func() time.Time
	// Logger receives monitor connection changes; nil means slog.Default().
	Logger *slog.Logger
}

// Hub turns a stream of monitor updates into published snapshots.
type Hub struct {
	cfg  HubConfig
	snap atomic.Pointer[Snapshot]

	mu      sync.Mutex
	changed chan struct{}
}

// NewHub returns a hub with an empty snapshot published (not connected, no status yet).
func NewHub(cfg HubConfig) *Hub {
	if cfg.Interval <= 0 {
		cfg.Interval = 500 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	// Fill the model defaults here so snapshots can show them (stale threshold, task log size).
	cfg.Model = cfg.Model.WithDefaults()
	h := &Hub{cfg: cfg, changed: make(chan struct{})}
	// Versions start from the clock (microseconds, still exact in a browser's float64), so a
	// page that reconnects to a restarted dashboard never names a version the new process
	// also uses, and is sent what it shows rather than trusted to have it.
	h.snap.Store(buildSnapshot(monitor.NewModel(cfg.Model), cfg.Now(), uint64(cfg.Now().UnixMicro()), cfg))
	return h
}

// Snapshot returns the latest published snapshot; it never returns nil.
func (h *Hub) Snapshot() *Snapshot { return h.snap.Load() }

// Changed returns a channel that is closed when the next snapshot is published. Take it
// before reading Snapshot, so a publish in between is not missed.
func (h *Hub) Changed() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.changed
}

func (h *Hub) publish(s *Snapshot) {
	h.snap.Store(s)
	h.mu.Lock()
	close(h.changed)
	h.changed = make(chan struct{})
	h.mu.Unlock()
}

// Run applies updates to the hub's model and publishes a snapshot every interval until ctx
// ends or updates is closed. It is the model's only user. A snapshot is published on every
// tick even without news, because ages and the stale marker move with time.
func (h *Hub) Run(ctx context.Context, updates <-chan monitor.Update) {
	m := monitor.NewModel(h.cfg.Model)
	version := h.Snapshot().Version
	ticker := time.NewTicker(h.cfg.Interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case u, ok := <-updates:
			if !ok {
				version++
				h.publish(buildSnapshot(m, h.cfg.Now(), version, h.cfg))
				return
			}
			h.logConnection(m, u)
			m.Apply(u)
		case <-ticker.C:
			version++
			h.publish(buildSnapshot(m, h.cfg.Now(), version, h.cfg))
		}
	}
}

// logConnection logs a change of the monitor connection once, not once per failed retry.
func (h *Hub) logConnection(m *monitor.Model, u monitor.Update) {
	if u.Msg != nil {
		return
	}
	switch {
	case u.Connected && !m.Connected:
		h.cfg.Logger.Info("connected to the scheduler monitor", "monitor", h.cfg.Monitor)
	case !u.Connected && (m.Connected || m.LastChange.IsZero()):
		h.cfg.Logger.Warn("scheduler monitor unreachable; retrying", "monitor", h.cfg.Monitor, "err", u.Err)
	}
}
