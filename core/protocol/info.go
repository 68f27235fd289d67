package protocol

import "time"

// FeaturesRequest is the InformationRequest.request with which Go clients ask which Go
// extensions the scheduler supports. This scheduler answers with a Features document; the
// Python scheduler never answers InformationRequest, so a client that has its heartbeat
// echo (sent after the request, answered in order) but no answer knows the extensions are
// off.
const FeaturesRequest = "scaler-go:features"

// Features is the answer to FeaturesRequest.
type Features struct {
	Implementation string `json:"implementation"`
	// Inline: Task arguments of type ArgInline and results flagged ProfileResult.Inline
	// pass through this scheduler.
	Inline bool `json:"inline"`
}

// ClusterInfo is the JSON document the scheduler sends in an InformationResponse: the same facts
// as the monitor's StateScheduler, for a client that asks without subscribing (the
// reference accepts InformationRequest and never answers, spec §7.14).
type ClusterInfo struct {
	Time          time.Time        `json:"time"`
	SchedulerCPU  float64          `json:"scheduler_cpu_percent"`
	SchedulerRSS  uint64           `json:"scheduler_rss_bytes"`
	HostFree      uint64           `json:"host_free_bytes"`
	Tasks         map[string]int64 `json:"tasks"`
	QueuedTasks   int              `json:"queued_tasks"`
	Objects       int              `json:"objects"`
	Graphs        int              `json:"graphs"`
	Clients       []InfoClient     `json:"clients"`
	Workers       []InfoWorker     `json:"workers"`
	Managers      []InfoManager    `json:"worker_managers"`
	MessagesIn    map[string]int64 `json:"messages_received"`
	MessagesOut   map[string]int64 `json:"messages_sent"`
	Allocation    string           `json:"allocation_policy"`
	Scaling       string           `json:"scaling_policy"`
	ObjectStorage string           `json:"object_storage"`
}

// InfoClient is one connected client.
type InfoClient struct {
	ID    string `json:"id"`
	Tasks int    `json:"tasks"`
}

// InfoWorker is one connected worker.
type InfoWorker struct {
	ID           string           `json:"id"`
	Manager      string           `json:"worker_manager,omitempty"`
	Assigned     int              `json:"assigned"`
	Free         int              `json:"free"`
	Queued       uint32           `json:"queued"`
	Processors   int              `json:"processors"`
	CPU          float64          `json:"agent_cpu_percent"`
	RSS          uint64           `json:"agent_rss_bytes"`
	LatencyUS    uint32           `json:"latency_us"`
	LastSeenS    float64          `json:"last_seen_s"`
	Capabilities map[string]int64 `json:"capabilities,omitempty"`
}

// InfoManager is one worker manager.
type InfoManager struct {
	ID                 string  `json:"id"`
	Identity           string  `json:"identity"`
	MaxTaskConcurrency uint32  `json:"max_task_concurrency"`
	Workers            int     `json:"workers"`
	Pending            uint32  `json:"pending_workers"`
	Capabilities       string  `json:"capabilities,omitempty"`
	LastSeenS          float64 `json:"last_seen_s"`
}
