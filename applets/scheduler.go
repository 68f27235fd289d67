package applets

import (
	"context"
	"time"

	"github.com/scaler-go/scaler/core/config"
	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/policy"
	"github.com/scaler-go/scaler/core/scheduler"
)

func init() {
	Register(Applet{Name: "scaler_scheduler", Summary: "start the scheduler (and object storage at port + 1 unless given)", Run: runScheduler})
}

type schedulerOptions struct {
	Address, ObjectStorage, AdvertisedObjectStorage, Monitor address.Address
	StatusReportInterval                                     int
	Protected                                                bool
	MaxTasksWaiting                                          int
	ClientTimeout, WorkerTimeout, ObjectRetention            int
	LoadBalanceSeconds, LoadBalanceTriggerTimes              int
	EventLoop                                                string
	IOThreads                                                int
	EngineType, PolicyContent                                string
	Backend                                                  string
	Logging                                                  config.Logging
	TLS                                                      config.TLS
}

func schedulerCommand(o *schedulerOptions) *config.Command {
	return &config.Command{
		Name:    "scaler_scheduler",
		Usage:   "start the scheduler",
		Section: config.SectionScheduler,
		Groups: []*config.Group{
			config.NewGroup("Scheduler",
				config.Address(&o.Address, "scheduler-address", "", "address to bind, e.g. tcp://127.0.0.1:6378").
					Positional().Required().TOMLAliases("bind_address"),
				config.Address(&o.ObjectStorage, "object-storage-address", "osa",
					"object storage server to use; when omitted one is started in this process at the scheduler port + 1").
					DefaultText("scheduler port + 1, started in-process"),
				config.Address(&o.AdvertisedObjectStorage, "advertised-object-storage-address", "aosa",
					"object storage address given to clients and workers (NAT, containers)").DefaultText("the object storage address"),
				config.Address(&o.Monitor, "monitor-address", "ma", "monitor publisher for scaler_top and scaler_gui").
					DefaultText("scheduler port + 2"),
				config.Int(&o.StatusReportInterval, "status-report-interval-seconds", "sri", 1, "period of the status report sent to monitors").
					Check(config.Positive[int]),
				config.Bool(&o.Protected, "protected", "p", "refuse client requests to shut the cluster down"),
				config.Int(&o.MaxTasksWaiting, "max-number-of-tasks-waiting", "mt", -1,
					"tasks allowed to wait for a busy cluster; beyond it new tasks fail at once (-1 = no limit)").
					Check(config.AtLeast(-1)),
				config.Int(&o.ClientTimeout, "client-timeout-seconds", "ct", 60, "drop a client silent for this long").Check(config.Positive[int]),
				config.Int(&o.WorkerTimeout, "worker-timeout-seconds", "wt", 60, "drop a worker silent for this long; its tasks run elsewhere").Check(config.Positive[int]),
				config.Int(&o.ObjectRetention, "object-retention-seconds", "ot", 60,
					"keep objects announced for an absent client this long before deleting them").Check(config.Positive[int]),
				config.Int(&o.LoadBalanceSeconds, "load-balance-seconds", "ls", 1, "load balancing period (negative disables it)").Check(config.NonZero[int]),
				config.Int(&o.LoadBalanceTriggerTimes, "load-balance-trigger-times", "lbt", 2,
					"identical balance advices needed in a row before tasks are moved").Check(config.Positive[int]),
				config.Enum(&o.EventLoop, "event-loop", "el", "builtin", []string{"builtin", "uvloop"},
					"accepted for compatibility: Go has one runtime"),
				config.Int(&o.IOThreads, "io-threads", "it", 1, "threads that run the scheduler's Go code at once (GOMAXPROCS, which wins when set); 1 keeps a message's hand-offs on one CPU, the lowest latency").Check(config.Positive[int]),
				config.NetworkBackend(&o.Backend),
			),
			config.NewGroup("Policy",
				config.Enum(&o.EngineType, "policy-engine-type", "et", policy.EngineSimple,
					[]string{policy.EngineSimple, policy.EngineWaterfallV1}, "policy engine"),
				config.Text(&o.PolicyContent, "policy-content", "pc", policy.DefaultPolicyContent,
					"policy definition: simple: 'allocate=even_load|capability; scaling=no|vanilla|capability'; waterfall_v1: lines 'priority,worker_manager_id[,max]'"),
			).Check(func() error {
				_, err := policy.ParseEngine(o.EngineType, o.PolicyContent)
				return err
			}),
			config.LoggingGroup(&o.Logging),
			config.TLSGroup(&o.TLS),
		},
	}
}

// server builds the scheduler and sizes this process for it (io_threads).
func (o *schedulerOptions) server(env Env, res *config.Result) (*scheduler.Server, func() error, error) {
	setIOThreads(o.IOThreads)
	log, closeLogs, err := newLogger(o.Logging, "scheduler", env, res)
	if err != nil {
		return nil, nil, err
	}
	b, err := backend(o.Backend)
	if err != nil {
		closeLogs()
		return nil, nil, err
	}
	engine, err := policy.ParseEngine(o.EngineType, o.PolicyContent)
	if err != nil {
		closeLogs()
		return nil, nil, err
	}
	st := scheduler.DefaultConfig()
	st.Protected = o.Protected
	st.MaxTasksWaiting = o.MaxTasksWaiting
	st.ClientTimeout = time.Duration(o.ClientTimeout) * time.Second
	st.WorkerTimeout = time.Duration(o.WorkerTimeout) * time.Second
	st.ObjectRetention = time.Duration(o.ObjectRetention) * time.Second
	st.LoadBalanceInterval = time.Duration(o.LoadBalanceSeconds) * time.Second
	st.LoadBalanceTriggerTimes = o.LoadBalanceTriggerTimes
	st.StatusReportInterval = time.Duration(o.StatusReportInterval) * time.Second
	st.Engine = engine
	srv := scheduler.NewServer(scheduler.ServerConfig{
		Address:                        o.Address,
		ObjectStorageAddress:           o.ObjectStorage,
		AdvertisedObjectStorageAddress: o.AdvertisedObjectStorage,
		MonitorAddress:                 o.Monitor,
		Backend:                        b,
		TLSCertFile:                    o.TLS.Cert,
		TLSKeyFile:                     o.TLS.Key,
		State:                          st,
		Logger:                         log,
	})
	return srv, closeLogs, nil
}

func runScheduler(ctx context.Context, env Env, args []string) error {
	var o schedulerOptions
	return serve(ctx, env, args, schedulerCommand(&o), o.server)
}
