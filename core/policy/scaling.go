package policy

import (
	"github.com/scaler-go/scaler/core/protocol"
)

// TaskGroup counts the scheduler's tasks that need one set of capability names; Caps is the
// name→value map of one of them (the reference uses the first task's).
type TaskGroup struct {
	Names []string
	Caps  []protocol.Capability
	Count int
}

// ManagerInfo is what the scheduler knows about one live worker manager.
type ManagerInfo struct {
	ID                 string
	MaxTaskConcurrency uint32
	Capabilities       []protocol.Capability
	// Workers is the number of connected workers that report this manager's id.
	Workers int
}

// ScalingInput is the snapshot a scaling policy decides from, on one manager's heartbeat.
type ScalingInput struct {
	// Tasks is the number of tasks the scheduler holds (queued, running, canceling...).
	Tasks int
	// Groups partitions Tasks by capability-name set (the empty set included).
	Groups []TaskGroup
	// Workers is the number of live workers of every manager.
	Workers int
	// Manager is the manager whose heartbeat is being answered.
	Manager ManagerInfo
	// Managers are all live managers, the requesting one included.
	Managers []ManagerInfo
}

// Scaler decides the WorkerManagerCommand for a manager heartbeat; nil means no command.
type Scaler interface {
	Command(in ScalingInput) *protocol.WorkerManagerCommand
}

type noScaler struct{}

func (noScaler) Command(ScalingInput) *protocol.WorkerManagerCommand { return nil }

func clampDesired(desired int, limit uint32) uint32 {
	if desired < 0 {
		return 0
	}
	if uint64(desired) > uint64(limit) {
		return limit
	}
	return uint32(desired)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

type vanillaScaler struct{}

// Command: spec/protocol.md §8.7 "vanilla": grow by one while tasks/workers > 10, shrink to
// ceil(tasks/10) when below one task per worker.
func (vanillaScaler) Command(in ScalingInput) *protocol.WorkerManagerCommand {
	current, t, w := in.Manager.Workers, in.Tasks, in.Workers
	desired := current
	switch {
	case w == 0:
		if t > 0 {
			desired = current + 1
		}
	case float64(t)/float64(w) > 10:
		desired = current + 1
	case float64(t)/float64(w) < 1:
		if t == 0 {
			desired = 0
		} else {
			desired = max(1, ceilDiv(t, 10))
		}
	}
	return &protocol.WorkerManagerCommand{Requests: []protocol.DesiredConcurrency{
		{TaskConcurrency: clampDesired(desired, in.Manager.MaxTaskConcurrency)},
	}}
}

type capabilityScaler struct{}

// Command: one request per capability-name group, ceil(count/5) workers each.
func (capabilityScaler) Command(in ScalingInput) *protocol.WorkerManagerCommand {
	cmd := &protocol.WorkerManagerCommand{}
	for _, g := range in.Groups {
		if g.Count == 0 {
			continue
		}
		cmd.Requests = append(cmd.Requests, protocol.DesiredConcurrency{
			TaskConcurrency: clampDesired(max(1, ceilDiv(g.Count, 5)), in.Manager.MaxTaskConcurrency),
			Capabilities:    g.Caps,
		})
	}
	return cmd
}

type waterfallScaler struct{ rules []WaterfallRule }

func (s waterfallScaler) capacity(r WaterfallRule, live map[string]ManagerInfo) (int, bool) {
	m, ok := live[r.WorkerManagerID]
	if !ok {
		return 0, false
	}
	c := int(m.MaxTaskConcurrency)
	if r.MaxTaskConcurrency > 0 && r.MaxTaskConcurrency < c {
		c = r.MaxTaskConcurrency
	}
	return c, true
}

// share pours total down the priority ladder over the rules accepted by eligible and
// returns what is left for the requesting manager.
func (s waterfallScaler) share(total int, me string, live map[string]ManagerInfo, eligible func(ManagerInfo) bool) int {
	remaining := total
	for _, r := range s.rules {
		c, ok := s.capacity(r, live)
		if !ok || !eligible(live[r.WorkerManagerID]) {
			continue
		}
		if r.WorkerManagerID == me {
			return max(0, min(remaining, c))
		}
		remaining -= c
		if remaining <= 0 {
			return 0
		}
	}
	return 0
}

// Command: spec/protocol.md §8.7 "waterfall_v1".
func (s waterfallScaler) Command(in ScalingInput) *protocol.WorkerManagerCommand {
	me := in.Manager.ID
	var myRule *WaterfallRule
	for i := range s.rules {
		if s.rules[i].WorkerManagerID == me {
			myRule = &s.rules[i]
		}
	}
	if myRule == nil {
		return nil
	}
	live := map[string]ManagerInfo{}
	for _, m := range in.Managers {
		live[m.ID] = m
	}
	live[me] = in.Manager
	any := func(ManagerInfo) bool { return true }

	generic := 0
	if in.Tasks == 0 {
		// Drain lower tiers first: keep this manager's workers while a lower-priority
		// manager still has some.
		for _, r := range s.rules {
			if r.Priority > myRule.Priority {
				if m, ok := live[r.WorkerManagerID]; ok && m.Workers > 0 {
					generic = in.Manager.Workers
					break
				}
			}
		}
	} else {
		generic = s.share(max(1, ceilDiv(in.Tasks, 10)), me, live, any)
	}
	cmd := &protocol.WorkerManagerCommand{Requests: []protocol.DesiredConcurrency{{TaskConcurrency: uint32(generic)}}}
	for _, g := range in.Groups {
		if len(g.Names) == 0 || g.Count == 0 {
			continue
		}
		covers := func(m ManagerInfo) bool {
			have := map[string]bool{}
			for _, c := range m.Capabilities {
				have[c.Name] = true
			}
			for _, n := range g.Names {
				if !have[n] {
					return false
				}
			}
			return true
		}
		if !covers(in.Manager) {
			continue
		}
		if c := s.share(max(1, ceilDiv(g.Count, 10)), me, live, covers); c > 0 {
			cmd.Requests = append(cmd.Requests, protocol.DesiredConcurrency{TaskConcurrency: uint32(c), Capabilities: g.Caps})
		}
	}
	return cmd
}

// DesiredFromCommand is the manager-side reading of a command: the sum of the requests whose
// capability (name, value) pairs are all among the manager's own; an empty request set is a
// wildcard (spec/features.md §2.1).
func DesiredFromCommand(cmd *protocol.WorkerManagerCommand, own []protocol.Capability) int {
	have := map[protocol.Capability]bool{}
	for _, c := range own {
		have[c] = true
	}
	total := 0
	for _, r := range cmd.Requests {
		ok := true
		for _, c := range r.Capabilities {
			if !have[c] {
				ok = false
				break
			}
		}
		if ok {
			total += int(r.TaskConcurrency)
		}
	}
	return total
}
