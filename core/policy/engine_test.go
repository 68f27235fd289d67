package policy

import (
	"strings"
	"testing"

	"github.com/scaler-go/scaler/core/protocol"
)

func TestParseEngine(t *testing.T) {
	tests := []struct {
		typ, content string
		alloc, scale string
		err          string
	}{
		{typ: "simple", content: DefaultPolicyContent, alloc: "even_load", scale: "vanilla"},
		{typ: "simple", content: " scaling = no ;allocate= capability ", alloc: "capability", scale: "no"},
		{typ: "simple", content: "allocate=even_load", err: "missing scaling"},
		{typ: "simple", content: "allocate=even_load; scaling=no; extra=1", err: "unknown key"},
		{typ: "simple", content: "allocate=fast; scaling=no", err: "allocate="},
		{typ: "simple", content: "allocate=even_load; scaling=lots", err: "scaling="},
		{typ: "simple", content: "allocate=even_load; scaling=no; oops", err: "not key=value"},
		{typ: "waterfall_v1", content: "1,a,8\n2,b", alloc: "capability", scale: "waterfall_v1"},
		{typ: "fancy", content: "", err: "not one of simple"},
	}
	for _, tt := range tests {
		e, err := ParseEngine(tt.typ, tt.content)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s %q: err %v, want %q", tt.typ, tt.content, err, tt.err)
			}
			continue
		}
		if err != nil || e.Allocate != tt.alloc || e.Scaling != tt.scale {
			t.Errorf("%s %q = %+v, %v", tt.typ, tt.content, e, err)
		}
	}
}

func TestParseWaterfall(t *testing.T) {
	rules, err := ParseWaterfall("# tiers\n2, cloud , 50\n\n1,local  # cheap first\n2,other")
	if err != nil {
		t.Fatal(err)
	}
	want := []WaterfallRule{{1, "local", 0}, {2, "cloud", 50}, {2, "other", 0}}
	if len(rules) != len(want) {
		t.Fatalf("rules %+v", rules)
	}
	for i := range want {
		if rules[i] != want[i] {
			t.Fatalf("rules %+v, want %+v", rules, want)
		}
	}
	for _, bad := range []string{"", "# only comment", "x,a", "1,", "1,a,b", "1,a\n2,a", "1,a,2,3", "1,a,0"} {
		if _, err := ParseWaterfall(bad); err == nil {
			t.Errorf("ParseWaterfall(%q) accepted", bad)
		}
	}
}

func desired(cmd *protocol.WorkerManagerCommand) []uint32 {
	if cmd == nil {
		return nil
	}
	out := []uint32{}
	for _, r := range cmd.Requests {
		out = append(out, r.TaskConcurrency)
	}
	return out
}

func eq(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestVanilla(t *testing.T) {
	tests := []struct {
		tasks, workers, current int
		max                     uint32
		want                    uint32
	}{
		{tasks: 0, workers: 0, current: 0, max: 8, want: 0},
		{tasks: 5, workers: 0, current: 0, max: 8, want: 1},
		{tasks: 100, workers: 2, current: 2, max: 8, want: 3},
		{tasks: 100, workers: 2, current: 8, max: 8, want: 8},
		{tasks: 15, workers: 2, current: 2, max: 8, want: 2},
		{tasks: 0, workers: 4, current: 4, max: 8, want: 0},
		{tasks: 3, workers: 4, current: 4, max: 8, want: 1},
		{tasks: 25, workers: 30, current: 30, max: 40, want: 3},
	}
	for _, tt := range tests {
		cmd := vanillaScaler{}.Command(ScalingInput{Tasks: tt.tasks, Workers: tt.workers,
			Manager: ManagerInfo{ID: "m", MaxTaskConcurrency: tt.max, Workers: tt.current}})
		if got := desired(cmd); !eq(got, []uint32{tt.want}) {
			t.Errorf("%+v: desired %v", tt, got)
		}
	}
}

func TestCapabilityScaling(t *testing.T) {
	gpu := []protocol.Capability{{Name: "gpu", Value: -1}}
	in := ScalingInput{
		Tasks:   13,
		Groups:  []TaskGroup{{Names: nil, Count: 1}, {Names: []string{"gpu"}, Caps: gpu, Count: 12}},
		Manager: ManagerInfo{ID: "m", MaxTaskConcurrency: 2},
	}
	cmd := capabilityScaler{}.Command(in)
	if got := desired(cmd); !eq(got, []uint32{1, 2}) {
		t.Fatalf("desired %v", got)
	}
	if len(cmd.Requests[0].Capabilities) != 0 || cmd.Requests[1].Capabilities[0].Name != "gpu" {
		t.Fatalf("requests %+v", cmd.Requests)
	}
	if got := desired(capabilityScaler{}.Command(ScalingInput{Manager: in.Manager})); len(got) != 0 {
		t.Fatalf("no tasks must give an empty command, got %v", got)
	}
}

func TestWaterfall(t *testing.T) {
	rules, _ := ParseWaterfall("1,local,4\n2,cloud\n3,other")
	s := waterfallScaler{rules: rules}
	local := ManagerInfo{ID: "local", MaxTaskConcurrency: 8}
	cloud := ManagerInfo{ID: "cloud", MaxTaskConcurrency: 100}
	all := []ManagerInfo{local, cloud}
	// 100 tasks → total ceil(100/10) = 10: local takes 4 (rule cap), cloud 6.
	if got := desired(s.Command(ScalingInput{Tasks: 100, Manager: local, Managers: all})); !eq(got, []uint32{4}) {
		t.Errorf("local %v", got)
	}
	if got := desired(s.Command(ScalingInput{Tasks: 100, Manager: cloud, Managers: all})); !eq(got, []uint32{6}) {
		t.Errorf("cloud %v", got)
	}
	// Idle: local keeps its workers while cloud still has some.
	cloudBusy := cloud
	cloudBusy.Workers = 3
	localNow := local
	localNow.Workers = 4
	if got := desired(s.Command(ScalingInput{Tasks: 0, Manager: localNow, Managers: []ManagerInfo{localNow, cloudBusy}})); !eq(got, []uint32{4}) {
		t.Errorf("drain lower tier first: %v", got)
	}
	if got := desired(s.Command(ScalingInput{Tasks: 0, Manager: cloudBusy, Managers: []ManagerInfo{localNow, cloudBusy}})); !eq(got, []uint32{0}) {
		t.Errorf("lower tier drains: %v", got)
	}
	if cmd := s.Command(ScalingInput{Tasks: 5, Manager: ManagerInfo{ID: "nobody"}}); cmd != nil {
		t.Errorf("manager without a rule must get no command")
	}
	// Capability share only for managers covering the names.
	gpu := []protocol.Capability{{Name: "gpu", Value: -1}}
	cloudGPU := cloud
	cloudGPU.Capabilities = gpu
	in := ScalingInput{Tasks: 20, Groups: []TaskGroup{{Names: []string{"gpu"}, Caps: gpu, Count: 20}},
		Manager: cloudGPU, Managers: []ManagerInfo{local, cloudGPU}}
	if got := desired(s.Command(in)); !eq(got, []uint32{0, 2}) {
		t.Errorf("gpu share %v", got)
	}
}

func TestDesiredFromCommand(t *testing.T) {
	cmd := &protocol.WorkerManagerCommand{Requests: []protocol.DesiredConcurrency{
		{TaskConcurrency: 2},
		{TaskConcurrency: 3, Capabilities: []protocol.Capability{{Name: "gpu", Value: -1}}},
		{TaskConcurrency: 5, Capabilities: []protocol.Capability{{Name: "gpu", Value: 1}}},
	}}
	if got := DesiredFromCommand(cmd, []protocol.Capability{{Name: "gpu", Value: -1}}); got != 5 {
		t.Fatalf("desired %d", got)
	}
	if got := DesiredFromCommand(cmd, nil); got != 2 {
		t.Fatalf("desired %d", got)
	}
}
