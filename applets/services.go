package applets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// service is one part of a launched cluster, run as a goroutine under the launcher.
type service struct {
	name string
	run  func(ctx context.Context) error
	// ready, when set, blocks until the service can be used (the next services start only
	// then) or fails.
	ready func(ctx context.Context) error
}

type exit struct {
	i   int
	err error
}

// runServices starts services in order (waiting for each one's readiness), then waits. When
// any service ends, or ctx ends, the others are stopped in reverse order. The error names
// the service that failed first.
func runServices(ctx context.Context, log *slog.Logger, services []service) error {
	ctxs := make([]context.CancelFunc, len(services))
	done := make([]chan struct{}, len(services))
	exits := make(chan exit, len(services))
	started := 0
	stopAll := func() {
		for i := started - 1; i >= 0; i-- {
			ctxs[i]()
			select {
			case <-done[i]:
			case <-time.After(10 * time.Second):
				log.Error("service did not stop in time", "service", services[i].name)
			}
		}
	}
	for i, s := range services {
		sctx, cancel := context.WithCancel(context.Background())
		ctxs[i] = cancel
		done[i] = make(chan struct{})
		started++
		go func(i int, s service) {
			defer close(done[i])
			err := s.run(sctx)
			exits <- exit{i: i, err: err}
		}(i, s)
		log.Info("service started", "service", s.name)
		if s.ready == nil {
			continue
		}
		rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
		readyErr := make(chan error, 1)
		go func() { readyErr <- s.ready(rctx) }()
		select {
		case err := <-readyErr:
			rcancel()
			if err != nil {
				stopAll()
				return fmt.Errorf("%s did not become ready: %w", s.name, err)
			}
		case e := <-exits:
			rcancel()
			stopAll()
			return serviceExit(services[e.i].name, e.err)
		}
	}
	var first error
	select {
	case <-ctx.Done():
		log.Info("stopping all services")
	case e := <-exits:
		first = serviceExit(services[e.i].name, e.err)
		if first != nil {
			log.Error("service failed; stopping the others", "service", services[e.i].name, "err", e.err)
		} else {
			log.Info("service finished; stopping the others", "service", services[e.i].name)
		}
	}
	stopAll()
	return first
}

func serviceExit(name string, err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return nil
	}
	return fmt.Errorf("%s failed: %w", name, err)
}
