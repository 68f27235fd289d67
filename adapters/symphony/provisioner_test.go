package symphony_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/scaler-go/scaler/adapters/symphony"
	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/transport"
	"github.com/scaler-go/scaler/core/worker"
	"github.com/scaler-go/scaler/internal/testbin"
)

// Units are worker agents in this process; scale-down stops only units with nothing in
// Symphony (a unit that leaves gives its tasks back, and Symphony cannot abort them), and
// Close stops the rest and closes the session.
func TestProvisionerStopsIdleUnitsOnly(t *testing.T) {
	cluster := testbin.StartCluster(t, nil, 0)
	b := newMem()
	b.hold = true
	exec := newExec(t, b, symphony.ExecutorConfig{MaxInFlight: 4})
	ymq, err := transport.Lookup("ymq")
	if err != nil {
		t.Fatal(err)
	}
	prov := symphony.NewProvisioner(symphony.ProvisionerConfig{Worker: worker.Config{
		SchedulerAddress: address.MustParse(cluster.Address()), WorkerManagerID: "wm-test", MaxTaskConcurrency: 2,
		HeartbeatInterval: 200 * time.Millisecond, Backend: ymq, Logger: quiet(),
	}}, exec)
	ctx := testCtx(t)
	if err := prov.StartUnits(ctx, 2); err != nil {
		t.Fatal(err)
	}
	cluster.WaitWorkers(t, 2, 30*time.Second)

	pc := pyConnect(t, cluster.Address())
	id := submit(t, pc, "f", []byte("\x80\x05function"), []byte("\x80\x05arg"))
	b.waitSubmitted(t, 1)

	if err := prov.StopUnits(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if n := prov.Units(); n != 1 {
		t.Fatalf("%d units left, want the busy one", n)
	}
	b.release()
	r := wait(t, pc, id)
	if r.Type != protocol.ResultSuccess || string(r.Payload) != id.String() {
		t.Fatalf("result %v %q", r.Type, r.Payload)
	}
	testbin.Eventually(t, 10*time.Second, func() error {
		if err := prov.StopUnits(ctx, 1); err != nil {
			return err
		}
		if prov.Units() != 0 {
			return errors.New("the unit is still busy")
		}
		return nil
	})
	if err := prov.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(b.closed) != 1 {
		t.Fatalf("sessions closed: %v", b.closed)
	}
	if err := prov.StartUnits(ctx, 1); err == nil {
		t.Fatal("a unit started after Close")
	}
}

// While Symphony is unavailable no unit starts: tasks wait in the scheduler instead.
func TestProvisionerWaitsForSymphony(t *testing.T) {
	b := newMem()
	gate := make(chan struct{})
	b.openHook = func() error {
		select {
		case <-gate:
			return nil
		default:
			return &symphony.Error{Kind: symphony.KindUnreachable, Op: "open session", Message: "unreachable"}
		}
	}
	exec := newExec(t, b, symphony.ExecutorConfig{MaxInFlight: 1})
	prov := symphony.NewProvisioner(symphony.ProvisionerConfig{Worker: worker.Config{
		SchedulerAddress: address.MustParse("tcp://127.0.0.1:1"), Logger: quiet()}}, exec)
	defer prov.Close(context.Background())
	waitFor(t, "unavailable", func() bool { st, _ := exec.State(); return st == symphony.StateUnavailable })
	if err := prov.StartUnits(context.Background(), 3); err != nil || prov.Units() != 0 {
		t.Fatalf("started %d units while Symphony is down (err %v)", prov.Units(), err)
	}
	close(gate)
	waitFor(t, "ready", func() bool { st, _ := exec.State(); return st == symphony.StateReady })
}
