package policy

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Engine is a parsed policy: an allocation policy name and a scaling policy.
type Engine struct {
	Type      string
	Allocate  string
	Scaling   string
	Waterfall []WaterfallRule
}

// Engine types.
const (
	EngineSimple      = "simple"
	EngineWaterfallV1 = "waterfall_v1"
)

// DefaultPolicyContent is the reference default for the simple engine.
const DefaultPolicyContent = "allocate=even_load; scaling=vanilla"

// WaterfallRule is one line of waterfall_v1 policy content.
type WaterfallRule struct {
	Priority           int
	WorkerManagerID    string
	MaxTaskConcurrency int // 0 when the line gives none: the manager's own maximum applies
}

// ParseEngine validates engine type and content (spec/protocol.md §8.7).
func ParseEngine(engineType, content string) (*Engine, error) {
	switch engineType {
	case EngineSimple:
		return parseSimple(content)
	case EngineWaterfallV1:
		rules, err := ParseWaterfall(content)
		if err != nil {
			return nil, err
		}
		return &Engine{Type: EngineWaterfallV1, Allocate: "capability", Scaling: "waterfall_v1", Waterfall: rules}, nil
	}
	return nil, fmt.Errorf("policy engine type %q is not one of simple, waterfall_v1", engineType)
}

func parseSimple(content string) (*Engine, error) {
	kv := map[string]string{}
	for _, piece := range strings.Split(content, ";") {
		k, v, ok := strings.Cut(piece, "=")
		if !ok {
			if strings.TrimSpace(piece) != "" {
				return nil, fmt.Errorf("policy content: %q is not key=value", strings.TrimSpace(piece))
			}
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if _, dup := kv[k]; dup {
			return nil, fmt.Errorf("policy content: %q given twice", k)
		}
		kv[k] = v
	}
	for k := range kv {
		if k != "allocate" && k != "scaling" {
			return nil, fmt.Errorf("policy content: unknown key %q, expected allocate and scaling", k)
		}
	}
	e := &Engine{Type: EngineSimple}
	var ok bool
	if e.Allocate, ok = kv["allocate"]; !ok {
		return nil, fmt.Errorf("policy content %q: missing allocate=even_load|capability", content)
	}
	if e.Scaling, ok = kv["scaling"]; !ok {
		return nil, fmt.Errorf("policy content %q: missing scaling=no|vanilla|capability", content)
	}
	if e.Allocate != "even_load" && e.Allocate != "capability" {
		return nil, fmt.Errorf("policy content: allocate=%q is not one of even_load, capability", e.Allocate)
	}
	if e.Scaling != "no" && e.Scaling != "vanilla" && e.Scaling != "capability" {
		return nil, fmt.Errorf("policy content: scaling=%q is not one of no, vanilla, capability", e.Scaling)
	}
	return e, nil
}

// ParseWaterfall parses waterfall_v1 content: one `priority,worker_manager_id[,max]` rule
// per line, `#` comments, blank lines skipped; rules come back by ascending priority, ties
// in file order.
func ParseWaterfall(content string) ([]WaterfallRule, error) {
	var rules []WaterfallRule
	seen := map[string]bool{}
	for n, line := range strings.Split(content, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		fields := strings.Split(line, ",")
		if len(fields) != 2 && len(fields) != 3 {
			return nil, fmt.Errorf("waterfall rule line %d %q: expected priority,worker_manager_id[,max_task_concurrency]", n+1, line)
		}
		for i := range fields {
			fields[i] = strings.TrimSpace(fields[i])
		}
		prio, err := strconv.Atoi(fields[0])
		if err != nil {
			return nil, fmt.Errorf("waterfall rule line %d: priority %q is not an integer", n+1, fields[0])
		}
		r := WaterfallRule{Priority: prio, WorkerManagerID: fields[1]}
		if r.WorkerManagerID == "" {
			return nil, fmt.Errorf("waterfall rule line %d: empty worker_manager_id", n+1)
		}
		if seen[r.WorkerManagerID] {
			return nil, fmt.Errorf("waterfall rule line %d: worker_manager_id %q appears twice", n+1, r.WorkerManagerID)
		}
		seen[r.WorkerManagerID] = true
		if len(fields) == 3 {
			if r.MaxTaskConcurrency, err = strconv.Atoi(fields[2]); err != nil || r.MaxTaskConcurrency <= 0 {
				return nil, fmt.Errorf("waterfall rule line %d: max_task_concurrency %q is not a positive integer", n+1, fields[2])
			}
		}
		rules = append(rules, r)
	}
	if len(rules) == 0 {
		return nil, fmt.Errorf("waterfall_v1 policy content has no rules")
	}
	sort.SliceStable(rules, func(i, j int) bool { return rules[i].Priority < rules[j].Priority })
	return rules, nil
}

// NewAllocator returns a fresh allocation policy for this engine.
func (e *Engine) NewAllocator() Allocator {
	a, _ := NewAllocator(e.Allocate)
	return a
}

// NewScaler returns the scaling policy of this engine.
func (e *Engine) NewScaler() Scaler {
	switch e.Scaling {
	case "vanilla":
		return vanillaScaler{}
	case "capability":
		return capabilityScaler{}
	case "waterfall_v1":
		return waterfallScaler{rules: e.Waterfall}
	}
	return noScaler{}
}
