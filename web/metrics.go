package web

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// collector exposes the latest snapshot in Prometheus form. It reads the snapshot at scrape
// time, so /metrics shows exactly what the pages show and costs nothing between scrapes.
type collector struct {
	hub *Hub
	now func() time.Time
}

func newCollector(h *Hub, now func() time.Time) *collector { return &collector{hub: h, now: now} }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	mConnected   = desc("scaler_gui_monitor_connected", "1 while the monitor subscription is connected.")
	mStale       = desc("scaler_gui_scheduler_stale", "1 when no status report arrived within 5 status intervals (or none yet).")
	mStatusAge   = desc("scaler_gui_status_age_seconds", "Age of the latest scheduler status report.")
	mReports     = desc("scaler_gui_status_reports_total", "Scheduler status reports received since the GUI started.")
	mSeenDone    = desc("scaler_gui_finished_tasks_seen_total", "Finished tasks seen on the monitor stream since the GUI started.")
	mUnfinished  = desc("scaler_gui_unfinished_tasks", "Unfinished tasks the monitor stream told about.")
	mThroughput  = desc("scaler_task_throughput_per_second", "Tasks finished per second between the last two status reports.")
	mSchedCPU    = desc("scaler_scheduler_cpu_ratio", "Scheduler process CPU (1 = one core).")
	mSchedRSS    = desc("scaler_scheduler_memory_bytes", "Scheduler process memory.")
	mSchedFree   = desc("scaler_scheduler_memory_free_bytes", "Memory available on the scheduler host or in its cgroup.")
	mObjects     = desc("scaler_scheduler_objects", "Objects the scheduler tracks.")
	mTasks       = desc("scaler_tasks", "Tasks currently in a non-terminal state.", "state")
	mTasksDone   = desc("scaler_tasks_finished_total", "Tasks that reached a terminal state since the scheduler started.", "state")
	mMsgIn       = desc("scaler_scheduler_messages_received_total", "Messages the scheduler received, by type.", "type")
	mMsgOut      = desc("scaler_scheduler_messages_sent_total", "Messages the scheduler sent, by type.", "type")
	mWorkers     = desc("scaler_workers", "Connected workers.")
	mManagers    = desc("scaler_worker_managers", "Worker managers that heartbeat.")
	mPending     = desc("scaler_worker_managers_pending_workers", "Workers started by managers that have not connected yet.")
	mClients     = desc("scaler_clients", "Connected clients.")
	mWCPU        = desc("scaler_worker_cpu_ratio", "Worker CPU (1 = one core); process is agent or processors.", "worker", "manager", "process")
	mWRSS        = desc("scaler_worker_memory_bytes", "Worker memory; process is agent or processors.", "worker", "manager", "process")
	mWFree       = desc("scaler_worker_free_slots", "Free queue slots of the worker.", "worker", "manager")
	mWSent       = desc("scaler_worker_sent_tasks", "Tasks assigned to the worker.", "worker", "manager")
	mWQueued     = desc("scaler_worker_queued_tasks", "Tasks queued inside the worker.", "worker", "manager")
	mWSusp       = desc("scaler_worker_suspended_processors", "Suspended processors of the worker.", "worker", "manager")
	mWLag        = desc("scaler_worker_lag_seconds", "Heartbeat latency of the worker.", "worker", "manager")
	mWLast       = desc("scaler_worker_last_seen_seconds", "Time since the worker's last heartbeat.", "worker", "manager")
	mMWorkers    = desc("scaler_manager_workers", "Workers connected for the manager.", "manager")
	mMPending    = desc("scaler_manager_pending_workers", "Workers the manager started that have not connected yet.", "manager")
	mMMax        = desc("scaler_manager_max_concurrency", "Maximum number of workers the manager may run.", "manager")
	mMLast       = desc("scaler_manager_last_seen_seconds", "Time since the manager's last heartbeat.", "manager")
	mClientTasks = desc("scaler_client_tasks", "Tasks of the client in the scheduler.", "client")

	allDescs = []*prometheus.Desc{mConnected, mStale, mStatusAge, mReports, mSeenDone, mUnfinished, mThroughput,
		mSchedCPU, mSchedRSS, mSchedFree, mObjects, mTasks, mTasksDone, mMsgIn, mMsgOut, mWorkers, mManagers,
		mPending, mClients, mWCPU, mWRSS, mWFree, mWSent, mWQueued, mWSusp, mWLag, mWLast, mMWorkers, mMPending,
		mMMax, mMLast, mClientTasks}
)

// Describe sends every metric description.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Collect sends the metrics of the latest snapshot. Figures that come from status reports
// are left out until the first report arrives, rather than reported as zeros.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.hub.Snapshot()
	now := c.now()
	send := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels []string) {
		// Worker and client ids come off the network: a label must be valid UTF-8.
		for i, l := range labels {
			labels[i] = strings.ToValidUTF8(l, "\uFFFD")
		}
		m, err := prometheus.NewConstMetric(d, t, v, labels...)
		if err != nil {
			m = prometheus.NewInvalidMetric(d, err)
		}
		ch <- m
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) { send(d, prometheus.GaugeValue, v, labels) }
	counter := func(d *prometheus.Desc, v float64, labels ...string) { send(d, prometheus.CounterValue, v, labels) }
	gauge(mConnected, boolValue(s.Connected))
	gauge(mStale, boolValue(s.Stale(now)))
	counter(mReports, float64(s.Snapshots))
	counter(mSeenDone, float64(s.FinishedTasks))
	gauge(mUnfinished, float64(s.ActiveTasks))
	if !s.HasStatus {
		return
	}
	gauge(mStatusAge, s.StatusAge(now).Seconds())
	if n := len(s.Throughput); n > 0 {
		gauge(mThroughput, s.Throughput[n-1].Value)
	}
	gauge(mSchedCPU, float64(s.Scheduler.CPU)/1000)
	gauge(mSchedRSS, float64(s.Scheduler.RSS))
	gauge(mSchedFree, float64(s.Scheduler.RSSFree))
	gauge(mObjects, float64(s.Scheduler.Objects))
	for _, r := range s.States {
		if r.Terminal {
			counter(mTasksDone, float64(r.Count), r.State.String())
		} else {
			gauge(mTasks, float64(r.Count), r.State.String())
		}
	}
	for _, m := range s.Received {
		counter(mMsgIn, float64(m.Number), m.Name)
	}
	for _, m := range s.Sent {
		counter(mMsgOut, float64(m.Number), m.Name)
	}
	gauge(mWorkers, float64(len(s.Workers)))
	gauge(mManagers, float64(s.LiveManagers()))
	gauge(mPending, float64(s.PendingWorkers()))
	gauge(mClients, float64(len(s.Clients)))
	for _, w := range s.Workers {
		gauge(mWCPU, float64(w.Agent.CPU)/1000, w.Worker, w.Manager, "agent")
		gauge(mWCPU, float64(w.ProcCPU)/1000, w.Worker, w.Manager, "processors")
		gauge(mWRSS, float64(w.Agent.RSS), w.Worker, w.Manager, "agent")
		gauge(mWRSS, float64(w.ProcRSS), w.Worker, w.Manager, "processors")
		gauge(mWFree, float64(w.Free), w.Worker, w.Manager)
		gauge(mWSent, float64(w.Sent), w.Worker, w.Manager)
		gauge(mWQueued, float64(w.Queued), w.Worker, w.Manager)
		gauge(mWSusp, float64(w.Suspended), w.Worker, w.Manager)
		gauge(mWLag, float64(w.LagUS)/1e6, w.Worker, w.Manager)
		gauge(mWLast, float64(w.LastS), w.Worker, w.Manager)
	}
	for _, m := range s.Managers {
		if m.Gone {
			continue
		}
		gauge(mMWorkers, float64(m.Connected), m.ID)
		gauge(mMPending, float64(m.PendingWorkers), m.ID)
		gauge(mMMax, float64(m.MaxTaskConcurrency), m.ID)
		gauge(mMLast, float64(m.LastSeenS), m.ID)
	}
	for _, cl := range s.Clients {
		gauge(mClientTasks, float64(cl.Tasks), cl.ID)
	}
}
