package policy

import (
	"sort"
	"testing"

	"github.com/scaler-go/scaler/core/protocol"
	"pgregory.net/rapid"
)

func tid(n int) TaskID {
	var t TaskID
	t[0], t[1] = byte(n), byte(n>>8)
	return t
}

func caps(names ...string) []protocol.Capability {
	var out []protocol.Capability
	for _, n := range names {
		out = append(out, protocol.Capability{Name: n, Value: -1})
	}
	return out
}

func TestEvenLoadRoundRobin(t *testing.T) {
	a, _ := NewAllocator("even_load")
	a.AddWorker("w1", nil, 2)
	a.AddWorker("w2", nil, 2)
	var got []string
	for i := 0; i < 5; i++ {
		w, ok := a.Assign(tid(i), nil)
		if !ok {
			got = append(got, "-")
			continue
		}
		got = append(got, w)
	}
	want := []string{"w1", "w2", "w1", "w2", "-"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("assignments %v, want %v", got, want)
		}
	}
	if w, ok := a.Release(tid(0)); !ok || w != "w1" {
		t.Fatalf("release = %v %v", w, ok)
	}
	if w, _ := a.Assign(tid(9), nil); w != "w1" {
		t.Fatalf("freed slot not reused: %v", w)
	}
	if w, _ := a.Assign(tid(9), nil); w != "w1" {
		t.Fatal("re-assigning an assigned task must return its worker")
	}
	if n, free := a.Load("w1"); n != 2 || free != 0 {
		t.Fatalf("load %d %d", n, free)
	}
	if got := a.RemoveWorker("w1"); len(got) != 2 || got[0] != tid(2) || got[1] != tid(9) {
		t.Fatalf("removed tasks %v", got)
	}
	if _, ok := a.WorkerOf(tid(2)); ok {
		t.Fatal("task of removed worker still mapped")
	}
}

func TestEvenLoadIgnoresCapabilities(t *testing.T) {
	a, _ := NewAllocator("even_load")
	a.AddWorker("w1", caps("gpu"), 10)
	if w, ok := a.Assign(tid(1), []string{"tpu"}); !ok || w != "w1" {
		t.Fatalf("even_load must ignore capabilities: %v %v", w, ok)
	}
}

func TestCapabilityAllocation(t *testing.T) {
	a, _ := NewAllocator("capability")
	a.AddWorker("cpu", nil, 10)
	a.AddWorker("gpu", caps("gpu", "linux"), 10)
	tests := []struct {
		need []string
		want string
		ok   bool
	}{
		{need: []string{"gpu"}, want: "gpu", ok: true},
		{need: []string{"gpu", "linux"}, want: "gpu", ok: true},
		{need: []string{"tpu"}, ok: false},
		{need: nil, want: "cpu", ok: true}, // gpu has one task, cpu none
	}
	for i, tt := range tests {
		w, ok := a.Assign(tid(i), tt.need)
		if ok != tt.ok || (ok && w != tt.want) {
			t.Errorf("assign %v = %q %v, want %q %v", tt.need, w, ok, tt.want, tt.ok)
		}
	}
}

func TestEvenLoadBalance(t *testing.T) {
	a, _ := NewAllocator("even_load")
	a.AddWorker("busy", nil, 100)
	for i := 0; i < 6; i++ {
		a.Assign(tid(i), nil)
	}
	if adv := a.Balance(); adv != nil {
		t.Fatalf("no idle worker, advice %v", adv)
	}
	a.AddWorker("idle", nil, 100)
	adv := a.Balance()
	// queued = 5 on busy, 0 on idle; mean = ceil(5/2) = 3; move 2 newest.
	if got := adv["busy"]; len(got) != 2 || got[0] != tid(5) || got[1] != tid(4) {
		t.Fatalf("advice %v", adv)
	}
}

func TestEvenLoadBalanceTopUp(t *testing.T) {
	a, _ := NewAllocator("even_load")
	a.AddWorker("a", nil, 100)
	a.AddWorker("b", nil, 100)
	a.Assign(tid(1), nil) // a
	a.Assign(tid(2), nil) // b
	a.Assign(tid(3), nil) // a: queued 1
	a.AddWorker("c", nil, 100)
	a.AddWorker("d", nil, 100)
	// queued a=1 b=0 c=0 d=0, total 1, mean ceil(1/4)=1, move=0, idle=2 → top up to 1.
	adv := a.Balance()
	if got := adv["a"]; len(got) != 1 || got[0] != tid(3) {
		t.Fatalf("advice %v", adv)
	}
}

func TestCapabilityBalance(t *testing.T) {
	a, _ := NewAllocator("capability")
	a.AddWorker("g1", caps("gpu"), 100)
	for i := 0; i < 4; i++ {
		a.Assign(tid(i), []string{"gpu"})
	}
	a.Assign(tid(10), nil)
	a.AddWorker("plain", nil, 100)
	a.AddWorker("g2", caps("gpu"), 100)
	adv := a.Balance()
	moved := adv["g1"]
	// target = max(5/3, 1) ≈ 1.67: g1 sheds tasks to g2 (gpu) and the plain task to plain.
	if len(moved) < 2 {
		t.Fatalf("advice %v", adv)
	}
	for _, m := range moved {
		if m == tid(0) {
			t.Fatalf("oldest task should not move first: %v", moved)
		}
	}
}

// Property: whatever the operation sequence, every worker holds at most its queue size, every
// assigned task maps to exactly one worker that lists it, and released tasks are forgotten.
func TestAllocatorInvariants(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		policy := rapid.SampledFrom([]string{"even_load", "capability"}).Draw(t, "policy")
		a, _ := NewAllocator(policy)
		names := []string{"gpu", "linux", "big"}
		workers := map[string]bool{}
		assigned := map[TaskID]string{}
		next := 0
		steps := rapid.IntRange(1, 200).Draw(t, "steps")
		for i := 0; i < steps; i++ {
			switch rapid.IntRange(0, 3).Draw(t, "op") {
			case 0:
				w := rapid.SampledFrom([]string{"a", "b", "c", "d"}).Draw(t, "w")
				cs := rapid.SliceOfDistinct(rapid.SampledFrom(names), rapid.ID[string]).Draw(t, "caps")
				q := rapid.IntRange(1, 5).Draw(t, "q")
				added := a.AddWorker(w, caps(cs...), q)
				if added == workers[w] {
					t.Fatalf("AddWorker(%s) added=%v but known=%v", w, added, workers[w])
				}
				workers[w] = true
			case 1:
				if len(workers) == 0 {
					continue
				}
				ws := sortedKeys(workers)
				w := rapid.SampledFrom(ws).Draw(t, "rw")
				for _, tk := range a.RemoveWorker(w) {
					if assigned[tk] != w {
						t.Fatalf("worker %s returned task it did not hold", w)
					}
					delete(assigned, tk)
				}
				delete(workers, w)
			case 2:
				next++
				cs := rapid.SliceOfDistinct(rapid.SampledFrom(names), rapid.ID[string]).Draw(t, "need")
				if w, ok := a.Assign(tid(next), cs); ok {
					if !workers[w] {
						t.Fatalf("assigned to unknown worker %s", w)
					}
					assigned[tid(next)] = w
				}
			case 3:
				for tk, w := range assigned {
					got, ok := a.Release(tk)
					if !ok || got != w {
						t.Fatalf("release %v = %s %v, want %s", tk, got, ok, w)
					}
					delete(assigned, tk)
					break
				}
			}
			total := 0
			for w := range workers {
				n, free := a.Load(w)
				if free < 0 {
					t.Fatalf("negative free on %s", w)
				}
				total += n
				for _, tk := range a.Tasks(w) {
					if assigned[tk] != w {
						t.Fatalf("worker %s lists task not assigned to it", w)
					}
				}
			}
			if total != len(assigned) {
				t.Fatalf("allocator holds %d tasks, model %d", total, len(assigned))
			}
			for w, tasks := range a.Balance() {
				if !workers[w] || len(tasks) == 0 {
					t.Fatalf("bad advice for %s: %v", w, tasks)
				}
			}
		}
	})
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
