package config

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/scaler-go/scaler/core/config/address"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The declarations below mirror spec/features.md §1.4 and §1.6 closely enough to prove the
// design on real option sets; the command files will own the real ones.

type schedulerConfig struct {
	Address                 address.Address
	ObjectStorage           address.Address
	AdvertisedObjectStorage address.Address
	Monitor                 address.Address
	StatusReportInterval    int
	Protected               bool
	MaxTasksWaiting         int
	ClientTimeout           int
	WorkerTimeout           int
	ObjectRetention         int
	LoadBalanceSeconds      int
	LoadBalanceTriggerTimes int
	EventLoop               string
	IOThreads               int
	PolicyEngine            string
	PolicyContent           string
	NetworkBackend          string
	Logging                 Logging
	TLS                     TLS
}

func schedulerCommand(c *schedulerConfig) *Command {
	return &Command{
		Name:    "scaler_scheduler",
		Usage:   "start the scheduler",
		Section: SectionScheduler,
		Groups: []*Group{
			NewGroup("Scheduler",
				Address(&c.Address, "scheduler-address", "", "address the scheduler binds").
					Positional().Required().TOMLAliases("bind_address"),
				Address(&c.ObjectStorage, "object-storage-address", "osa", "object storage server to connect to").
					DefaultText("scheduler port + 1, started here"),
				Address(&c.AdvertisedObjectStorage, "advertised-object-storage-address", "aosa", "object storage address handed to clients and workers"),
				Address(&c.Monitor, "monitor-address", "ma", "monitor publisher address").DefaultText("scheduler port + 2"),
				Int(&c.StatusReportInterval, "status-report-interval-seconds", "sri", 1, "status snapshot period").Check(Positive),
				Bool(&c.Protected, "protected", "p", "refuse client shutdown requests"),
				Int(&c.MaxTasksWaiting, "max-number-of-tasks-waiting", "mt", -1, "queue limit while workers are saturated").Check(AtLeast(-1)),
				Int(&c.ClientTimeout, "client-timeout-seconds", "ct", 60, "client heartbeat timeout").Check(Positive),
				Int(&c.WorkerTimeout, "worker-timeout-seconds", "wt", 60, "worker heartbeat timeout").Check(Positive),
				Int(&c.ObjectRetention, "object-retention-seconds", "ot", 60, "object retention timeout").Check(Positive),
				Int(&c.LoadBalanceSeconds, "load-balance-seconds", "ls", 1, "balance period; negative disables").Check(NonZero),
				Int(&c.LoadBalanceTriggerTimes, "load-balance-trigger-times", "lbt", 2, "identical advices before balancing").Check(Positive),
				Enum(&c.EventLoop, "event-loop", "el", "builtin", []string{"builtin", "uvloop"}, "event loop"),
				Int(&c.IOThreads, "io-threads", "it", 1, "network threads").Check(Positive),
				NetworkBackend(&c.NetworkBackend),
			),
			NewGroup("Policy",
				Enum(&c.PolicyEngine, "policy-engine-type", "et", "simple", []string{"simple", "waterfall_v1"}, "policy engine"),
				Text(&c.PolicyContent, "policy-content", "pc", "allocate=even_load; scaling=vanilla", "policy definition"),
			),
			LoggingGroup(&c.Logging),
			TLSGroup(&c.TLS),
		},
	}
}

type managerConfig struct {
	SchedulerAddress       address.Address
	WorkerSchedulerAddress address.Address
	ObjectStorage          address.Address
	ID                     string
	MaxTaskConcurrency     int
}

func managerGroup(c *managerConfig) *Group {
	return NewGroup("Worker manager",
		Address(&c.SchedulerAddress, "scheduler-address", "", "scheduler to connect to").Positional().Required(),
		String(&c.ID, "worker-manager-id", "wmi", "", "identity of this manager").Required().Check(NonEmpty),
		Address(&c.WorkerSchedulerAddress, "worker-scheduler-address", "wsa", "scheduler address given to workers"),
		Address(&c.ObjectStorage, "object-storage-address", "osa", "object storage override for workers"),
		Int(&c.MaxTaskConcurrency, "max-task-concurrency", "mtc", 8, "cap on workers; -1 = none").
			DefaultText("number of CPUs").Check(AtLeast(-1)),
	)
}

type workerConfig struct {
	Capabilities    map[string]int
	QueueSize       int
	Heartbeat       int
	TaskTimeout     int
	DeathTimeout    int
	GCInterval      int
	TrimMemoryBytes uint64
	HardSuspend     bool
	IOThreads       int
	EventLoop       string
	Preload         string
}

func workerGroup(c *workerConfig) *Group {
	return NewGroup("Worker",
		Capabilities(&c.Capabilities, "per-worker-capabilities", "pwc", "capabilities every worker advertises"),
		Int(&c.QueueSize, "per-worker-task-queue-size", "wtqs", 1000, "tasks queued per worker").Check(Positive),
		Int(&c.Heartbeat, "heartbeat-interval-seconds", "his", 2, "heartbeat period").Check(Positive),
		Int(&c.TaskTimeout, "task-timeout-seconds", "tts", 0, "task timeout, 0 = none").Check(NonNegative),
		Int(&c.DeathTimeout, "death-timeout-seconds", "dts", 300, "exit after this long without the scheduler").Check(Positive),
		Int(&c.GCInterval, "garbage-collect-interval-seconds", "gc", 30, "garbage collection period").Check(Positive),
		Uint64(&c.TrimMemoryBytes, "trim-memory-threshold-bytes", "tm", 1<<30, "trim memory above this RSS"),
		Bool(&c.HardSuspend, "hard-processor-suspend", "hps", "suspend preempted processors with SIGSTOP"),
		Int(&c.IOThreads, "io-threads", "it", 1, "network threads").Check(Positive),
		Enum(&c.EventLoop, "event-loop", "el", "builtin", []string{"builtin", "uvloop"}, "event loop"),
		String(&c.Preload, "preload", "", "", "module.path:func run before tasks"),
	)
}

type nativeConfig struct {
	Manager    managerConfig
	Worker     workerConfig
	Logging    Logging
	TLS        TLS
	Mode       string
	WorkerType string
}

type ecsConfig struct {
	Manager         managerConfig
	Worker          workerConfig
	Logging         Logging
	AccessKeyID     string
	SecretAccessKey string
	Region          string
	Subnets         []string
	Cluster         string
	TaskCPU         int
	TaskMemory      int
	InstanceTags    map[string]string
}

type symphonyConfig struct {
	Manager     managerConfig
	Worker      workerConfig
	Logging     Logging
	ServiceName string
}

type managerConfigs struct {
	native   nativeConfig
	ecs      ecsConfig
	symphony symphonyConfig
}

func workerManagerCommand(c *managerConfigs) *Command {
	n, e, s := &c.native, &c.ecs, &c.symphony
	return &Command{
		Name:    "scaler_worker_manager",
		Usage:   "start one worker manager",
		Section: SectionWorkerManager,
		Subcommands: []*Command{
			{
				Name:  "baremetal_native",
				Usage: "local worker processes",
				Groups: []*Group{
					managerGroup(&n.Manager),
					workerGroup(&n.Worker),
					NewGroup("baremetal_native",
						Enum(&n.Mode, "mode", "", "dynamic", []string{"dynamic", "fixed"}, "dynamic follows the scheduler; fixed starts max-task-concurrency workers"),
						String(&n.WorkerType, "worker-type", "", "", "worker name prefix").DefaultText("NAT or FIX"),
						Alias("num-of-workers", "n", "max-task-concurrency"),
					),
					LoggingGroup(&n.Logging),
					TLSGroup(&n.TLS),
				},
			},
			{
				Name:  "aws_raw_ecs",
				Usage: "AWS ECS Fargate tasks",
				Groups: []*Group{
					managerGroup(&e.Manager),
					workerGroup(&e.Worker),
					NewGroup("aws_raw_ecs",
						String(&e.AccessKeyID, "aws-access-key-id", "", "", "AWS access key id").Env("AWS_ACCESS_KEY_ID"),
						String(&e.SecretAccessKey, "aws-secret-access-key", "", "", "AWS secret key").Env("AWS_SECRET_ACCESS_KEY"),
						String(&e.Region, "aws-region", "", "us-east-1", "AWS region"),
						Strings(&e.Subnets, "ecs-subnets", "", nil, "subnets of the tasks").Required().Check(NonEmptyList),
						String(&e.Cluster, "ecs-cluster", "", "scaler-cluster", "ECS cluster"),
						Int(&e.TaskCPU, "ecs-task-cpu", "", 4, "vCPUs per task").Check(Positive),
						Int(&e.TaskMemory, "ecs-task-memory", "", 30, "GB per task").Check(Positive),
						Map(&e.InstanceTags, "instance-tags", "", "tags"),
					),
					LoggingGroup(&e.Logging),
				},
			},
			{
				Name:  "symphony",
				Usage: "IBM Spectrum Symphony",
				Groups: []*Group{
					managerGroup(&s.Manager),
					workerGroup(&s.Worker),
					NewGroup("symphony",
						String(&s.ServiceName, "service-name", "sn", "", "Symphony service").Required().Check(NonEmpty),
					),
					LoggingGroup(&s.Logging),
				},
			},
		},
	}
}

// envMap is a LookupEnv over a fixed map.
func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// memFiles serves --config files from memory.
func memFiles(files map[string]string) func(string) ([]byte, error) {
	return func(path string) ([]byte, error) {
		data, ok := files[path]
		if !ok {
			return nil, &os.PathError{Op: "open", Path: path, Err: os.ErrNotExist}
		}
		return []byte(data), nil
	}
}

type guiConfig struct {
	MonitorAddress       address.Address
	GUIAddress           string
	BroadcastInterval    float64
	TaskLogMaxSize       int
	StatusReportInterval int
	Logging              Logging
	TLS                  TLS
}

func guiCommand(c *guiConfig) *Command {
	return &Command{
		Name:    "scaler_gui",
		Usage:   "web dashboard",
		Section: SectionGUI,
		Groups: []*Group{
			NewGroup("GUI",
				Address(&c.MonitorAddress, "monitor-address", "", "scheduler monitor to subscribe to").Positional().Required(),
				String(&c.GUIAddress, "gui-address", "", "0.0.0.0:50001", "HTTP listen address").Placeholder("HOST:PORT").Check(HostPort),
				Float(&c.BroadcastInterval, "broadcast-interval-seconds", "bi", 0.5, "push period").Check(Positive),
				Int(&c.TaskLogMaxSize, "task-log-max-size", "tl", 500, "completed tasks kept").Check(Positive),
				Int(&c.StatusReportInterval, "status-report-interval-seconds", "sri", 1, "scheduler status period").Check(Positive),
			),
			LoggingGroup(&c.Logging),
			TLSGroup(&c.TLS),
		},
	}
}

type topConfig struct {
	MonitorAddress address.Address
	Timeout        float64
	TLS            TLS
}

func topCommand(c *topConfig) *Command {
	return &Command{
		Name:    "scaler_top",
		Usage:   "terminal dashboard",
		Section: SectionTop,
		Groups: []*Group{
			NewGroup("Top",
				Address(&c.MonitorAddress, "monitor-address", "", "scheduler monitor to subscribe to").Positional().Required(),
				Float(&c.Timeout, "timeout", "t", 5, "give up after this many seconds without a message").Check(Positive),
			),
			TLSGroup(&c.TLS),
		},
	}
}

type objectStorageConfig struct {
	Address  address.Address
	Identity string
	Logging  Logging
	TLS      TLS
}

func objectStorageCommand(c *objectStorageConfig) *Command {
	return &Command{
		Name:    "scaler_object_storage_server",
		Usage:   "object storage server",
		Section: SectionObjectStorageServer,
		Groups: []*Group{
			NewGroup("Object storage",
				Address(&c.Address, "object-storage-address", "", "listen address").Positional().Required().TOMLAliases("bind_address"),
				String(&c.Identity, "identity", "", "ObjectStorageServer", "socket identity"),
			),
			LoggingGroup(&c.Logging),
			TLSGroup(&c.TLS),
		},
	}
}
