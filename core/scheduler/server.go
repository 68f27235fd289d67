package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/objstore"
	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/sysinfo"
	"github.com/scaler-go/scaler/core/transport"
)

// ServerConfig is everything a scheduler process needs.
type ServerConfig struct {
	// Address is where clients, workers and managers connect.
	Address address.Address
	// ObjectStorageAddress is the object storage server to use; zero means start one in
	// this process at Address's port + 1.
	ObjectStorageAddress address.Address
	// AdvertisedObjectStorageAddress is what heartbeat echoes tell peers; zero means
	// ObjectStorageAddress.
	AdvertisedObjectStorageAddress address.Address
	// MonitorAddress is the monitor publisher; zero means Address's port + 2.
	MonitorAddress address.Address
	// Backend is the transport of the main and monitor sockets; nil means
	// SCALER_NETWORK_BACKEND (default ymq).
	Backend transport.Backend
	// TLSCertFile and TLSKeyFile serve tls:// and wss:// addresses.
	TLSCertFile, TLSKeyFile string
	// State is the scheduler behaviour.
	State Config
	// Logger receives the scheduler's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Derived addresses of spec/features.md §1.2 and the seed: object storage at port + 1,
// monitor at port + 2, same scheme and host.
func derive(a address.Address, delta int, what string) (address.Address, error) {
	if !a.Scheme.HasPort() {
		return address.Address{}, fmt.Errorf("cannot derive the %s address from %s (no port): give it explicitly", what, a)
	}
	if a.Port == 0 {
		return address.Address{}, fmt.Errorf("cannot derive the %s address from %s (port 0): give it explicitly", what, a)
	}
	if a.Port+delta > 65535 {
		return address.Address{}, fmt.Errorf("cannot derive the %s address from %s: port %d is out of range", what, a, a.Port+delta)
	}
	return a.WithPort(a.Port + delta), nil
}

// Server runs a scheduler on the network.
type Server struct {
	cfg   ServerConfig
	log   *slog.Logger
	ready chan struct{}

	mu      sync.Mutex
	addr    address.Address
	ossAddr address.Address
	monAddr address.Address
}

// NewServer returns a scheduler server; call Run.
func NewServer(cfg ServerConfig) *Server {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Server{cfg: cfg, log: log, ready: make(chan struct{})}
}

// Ready is closed once every socket is bound and connected.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addresses returns the bound scheduler, object storage and monitor addresses (after Ready).
func (s *Server) Addresses() (sched, oss, monitor address.Address) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr, s.ossAddr, s.monAddr
}

// Run serves until ctx ends, a client shuts the cluster down, or a fatal error.
func (s *Server) Run(ctx context.Context) (err error) {
	cfg := s.cfg
	backend := cfg.Backend
	if backend == nil {
		if backend, err = transport.FromEnv(); err != nil {
			return err
		}
	}
	identity := protocol.NewProcessIdentity(os.Getpid(), "scheduler")
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	ossAddr := cfg.ObjectStorageAddress
	var ossDone chan error
	if ossAddr.IsZero() {
		if ossAddr, err = derive(cfg.Address, 1, "object storage"); err != nil {
			return err
		}
		ossAddr.Path = ""
		oss := objstore.NewServer(objstore.ServerOptions{
			Address: ossAddr, TLSCertFile: cfg.TLSCertFile, TLSKeyFile: cfg.TLSKeyFile,
			Logger: s.log.With("component", "object_storage"),
		})
		if err := oss.Bind(ctx); err != nil {
			return fmt.Errorf("start object storage at %s: %w", ossAddr, err)
		}
		ossAddr = oss.Addr()
		ossDone = make(chan error, 1)
		go func() { ossDone <- oss.Run(ctx) }()
		defer func() {
			cancel()
			if e := <-ossDone; e != nil && err == nil && !errors.Is(e, context.Canceled) {
				err = e
			}
		}()
		s.log.Info("object storage started in-process", "address", ossAddr)
	}

	opts := transport.Options{Identity: identity, TLSCertFile: cfg.TLSCertFile, TLSKeyFile: cfg.TLSKeyFile,
		Logger: s.log.With("component", "transport")}
	binder, err := backend.Bind(ctx, cfg.Address, opts)
	if err != nil {
		return fmt.Errorf("bind scheduler to %s: %w", cfg.Address, err)
	}
	defer binder.Close()

	oss, err := objstore.Dial(ctx, objstore.ClientOptions{Address: ossAddr, Identity: identity, Logger: s.log.With("component", "object_storage_client")})
	if err != nil {
		return fmt.Errorf("connect to object storage at %s: %w", ossAddr, err)
	}
	defer oss.Close()

	monAddr := cfg.MonitorAddress
	if monAddr.IsZero() {
		if monAddr, err = derive(binder.Addr(), 2, "monitor"); err != nil {
			return err
		}
	}
	pub, err := backend.Publish(ctx, monAddr, opts)
	if err != nil {
		return fmt.Errorf("bind monitor to %s: %w", monAddr, err)
	}
	defer pub.Close()

	adv := cfg.AdvertisedObjectStorageAddress
	if adv.IsZero() {
		adv = ossAddr
	}
	if !adv.Scheme.HasPort() {
		return fmt.Errorf("advertised object storage address %s has no port; peers could not use it (give --advertised-object-storage-address)", adv)
	}
	if adv.Host == "0.0.0.0" || adv.Host == "::" {
		s.log.Warn("advertising a wildcard object storage host; remote peers need --advertised-object-storage-address", "address", adv)
	}
	stateCfg := cfg.State
	stateCfg.ObjectStorage = protocol.ObjectStorageAddress{Host: adv.Host, Port: uint16(adv.Port), Scheme: string(adv.Scheme)}
	if stateCfg.Logger == nil {
		stateCfg.Logger = s.log
	}
	fx := &netEffects{binder: binder, pub: pub, oss: oss, log: s.log, cpu: sysinfo.NewCPUSampler("self"), pid: strconv.Itoa(os.Getpid())}
	state := New(stateCfg, fx)

	s.mu.Lock()
	s.addr, s.ossAddr, s.monAddr = binder.Addr(), ossAddr, pub.Addr()
	s.mu.Unlock()
	s.log.Info("scheduler started", "address", binder.Addr(), "backend", backend.Name(), "object_storage", ossAddr,
		"advertised_object_storage", adv, "monitor", pub.Addr(), "identity", identity,
		"policy", stateCfg.Engine.Type, "allocate", stateCfg.Engine.Allocate, "scaling", stateCfg.Engine.Scaling,
		"threads", runtime.GOMAXPROCS(0))
	close(s.ready)

	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	msgs := binder.Messages()
	handle := func(now time.Time, in transport.Inbound) {
		if in.Kind == transport.EventMessage {
			state.HandleMessage(now, in.Peer, in.Data)
		} else {
			state.HandlePeerEvent(now, in.Peer, in.Kind)
		}
	}
	for !fx.shutdown {
		select {
		case <-ctx.Done():
			s.log.Info("scheduler stopping")
			return nil
		case <-oss.Done():
			if ctx.Err() != nil {
				return nil // stopping: object storage went down with us
			}
			return fmt.Errorf("object storage connection lost: %w", oss.Err())
		case now := <-tick.C:
			state.Tick(now)
		case in, ok := <-msgs:
			if !ok {
				return fmt.Errorf("scheduler socket failed: %w", binder.Err())
			}
			now := time.Now()
			handle(now, in)
			// Take whatever else is already queued before looking at timers again: one
			// clock read per batch, and the transport flushes our replies in batches too.
		drain:
			for i := 0; i < 512 && !fx.shutdown; i++ {
				select {
				case in, ok := <-msgs:
					if !ok {
						return fmt.Errorf("scheduler socket failed: %w", binder.Err())
					}
					if i&63 == 63 {
						now = time.Now()
					}
					handle(now, in)
				default:
					break drain
				}
			}
		}
	}
	s.log.Info("scheduler shut down by a client request")
	// Give the shutdown broadcast a moment to leave before the sockets close.
	state.flushDeletes()
	return nil
}

// netEffects carries out the state machine's effects on real sockets.
type netEffects struct {
	binder   transport.Binder
	pub      transport.Publisher
	oss      *objstore.Client
	log      *slog.Logger
	cpu      *sysinfo.CPUSampler
	pid      string
	shutdown bool
}

func (e *netEffects) Send(peer string, data []byte) {
	if err := e.binder.Send(peer, data); err != nil {
		e.log.Debug("send failed", "peer", peer, "err", err)
	}
}

func (e *netEffects) Publish(data []byte) { e.pub.Publish(data) }

// subscriberCounter is implemented by publishers that know whether anyone listens.
type subscriberCounter interface{ Subscribers() int }

func (e *netEffects) MonitorActive() bool {
	if c, ok := e.pub.(subscriberCounter); ok {
		return c.Subscribers() > 0
	}
	return true
}

func (e *netEffects) DeleteObjects(ids []protocol.ObjectID) {
	for _, id := range ids {
		if err := e.oss.DeleteAsync(id); err != nil {
			e.log.Warn("object storage delete failed", "object", id, "err", err)
			return
		}
	}
}

func (e *netEffects) DuplicateObject(dst, src protocol.ObjectID) {
	if err := e.oss.DuplicateAsync(dst, src); err != nil {
		e.log.Warn("object storage duplicate failed", "object", dst, "err", err)
	}
}

func (e *netEffects) SetObject(id protocol.ObjectID, data []byte) {
	if err := e.oss.SetAsync(id, data); err != nil {
		e.log.Warn("object storage set failed", "object", id, "err", err)
	}
}

func (e *netEffects) Shutdown() { e.shutdown = true }

func (e *netEffects) ReleaseMemory() { debug.FreeOSMemory() }

func (e *netEffects) Resources() (protocol.Resource, uint64) {
	avail, _ := sysinfo.Memory()
	return protocol.Resource{CPU: e.cpu.Sample(), RSS: sysinfo.ProcessMemory(e.pid)}, avail
}
