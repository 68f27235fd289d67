package symphony_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scaler-go/scaler/adapters/symphony/symresttest"
	"github.com/scaler-go/scaler/core/client"
	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/monitor"
	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/transport"
	_ "github.com/scaler-go/scaler/core/transport/ymq" // the clients' transport
	"github.com/scaler-go/scaler/internal/pyclient"
	"github.com/scaler-go/scaler/internal/testbin"
)

// startManager runs `scaler_worker_manager symphony` against a scheduler and a SYMREST URL.
func startManager(t *testing.T, env []string, scheduler, url string, extra ...string) *testbin.Proc {
	t.Helper()
	args := []string{scheduler, "--worker-manager-id", "wm-sym", "--service-name", "ScalerService", "--symrest-url", url,
		"--heartbeat-interval-seconds", "1", "--symphony-poll-interval-seconds", "0.05", "--logging-level", "DEBUG"}
	return testbin.Start(t, env, "scaler_worker_manager", append([]string{"symphony"}, append(args, extra...)...)...)
}

func pyConnect(t *testing.T, addr string) *pyclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pyclient.Connect(ctx, "ymq", addr, pyclient.DefaultSerializer(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func submit(t *testing.T, c *pyclient.Client, name string, fn []byte, args ...[]byte) protocol.TaskID {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, err := c.Submit(ctx, name, fn, args...)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func wait(t *testing.T, c *pyclient.Client, id protocol.TaskID) *pyclient.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	r, err := c.Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// waitFakeSubmitted waits until n tasks have reached the fake Symphony.
func waitFakeSubmitted(t *testing.T, fake *symresttest.Server, n int) {
	t.Helper()
	testbin.Eventually(t, 30*time.Second, func() error {
		if got := fake.Submitted(); got != n {
			return fmt.Errorf("%d of %d tasks in Symphony", got, n)
		}
		return nil
	})
}

func alive(t *testing.T, p *testbin.Proc) {
	t.Helper()
	select {
	case <-p.Done():
		t.Fatalf("the manager exited: %v\n%s", p.Err(), p.Output())
	default:
	}
}

// Python tasks from a client complete through the real manager process and the fake
// SYMREST, results and failures with their original types; the Symphony bound holds; a Go
// task is refused in one line; shutdown closes the session.
func TestEndToEnd(t *testing.T) {
	pyclient.Require(t)
	cluster := testbin.StartCluster(t, nil, 0)
	fake := symresttest.Start(t, symresttest.Options{Users: map[string]string{"alice": "secret"}, NoBasic: true, Workers: 4})
	mgr := startManager(t, []string{"SCALER_SYMPHONY_PASSWORD=secret"}, cluster.Address(), fake.URL,
		"--symphony-user", "alice", "--max-task-concurrency", "2")
	mgr.WaitOutput(t, "Symphony session opened", 30*time.Second)
	if strings.Contains(mgr.Output(), "secret") {
		t.Fatal("the password appears in the manager's log")
	}
	pc := pyConnect(t, cluster.Address())

	r := wait(t, pc, submit(t, pc, "sqrt", sample(t, "func_math_sqrt.bin"), sample(t, "arg_16.bin")))
	if got := pyclient.Describe(t, r.Payload); r.Type != protocol.ResultSuccess || !strings.HasPrefix(got, "float|4.0|") {
		t.Fatalf("sqrt(16): %v %s", r.Type, got)
	}
	r = wait(t, pc, submit(t, pc, "add", pyclient.Pickle(t, clientMain, "make_adder(10)"), pyclient.Pickle(t, "", "5")))
	if got := pyclient.Describe(t, r.Payload); !strings.HasPrefix(got, "int|15|") {
		t.Fatalf("closure: %s", got)
	}
	r = wait(t, pc, submit(t, pc, "div_zero", sample(t, "func_div_zero.bin"), sample(t, "arg_1.bin")))
	got := pyclient.Describe(t, r.Payload)
	if r.Type != protocol.ResultFailed || !strings.HasPrefix(got, "ZeroDivisionError|ZeroDivisionError('division by zero')|") || !strings.Contains(got, "div_zero") {
		t.Fatalf("div_zero(1): %v %s", r.Type, got)
	}
	r = wait(t, pc, submit(t, pc, "check", pyclient.Pickle(t, clientMain, "check"), pyclient.Pickle(t, "", "-2")))
	got = pyclient.DescribeWith(t, clientMain, r.Payload)
	if r.Type != protocol.ResultFailed || !strings.HasPrefix(got, "BadInput|BadInput('negative: -2')|") || !strings.Contains(got, "in check") {
		t.Fatalf("custom exception: %v %s", r.Type, got)
	}

	// A burst: everything completes, never more than max_task_concurrency in Symphony.
	nap := pyclient.Pickle(t, "import time\ndef nap(x):\n    time.sleep(0.1)\n    return x * 2\n", "nap")
	var ids []protocol.TaskID
	for i := 0; i < 12; i++ {
		ids = append(ids, submit(t, pc, "nap", nap, pyclient.Pickle(t, "", strconv.Itoa(i))))
	}
	for i, id := range ids {
		r := wait(t, pc, id)
		if got := pyclient.Describe(t, r.Payload); r.Type != protocol.ResultSuccess || !strings.HasPrefix(got, "int|"+strconv.Itoa(2*i)+"|") {
			t.Fatalf("nap %d: %s", i, got)
		}
	}
	if m := fake.MaxInFlight(); m > 2 || m < 1 {
		t.Fatalf("%d tasks were in Symphony at once; max_task_concurrency is 2", m)
	}

	// A Go task that reaches the manager fails with one clear line.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	gc, err := client.Connect(ctx, cluster.Address(), client.WithBackend("ymq"), client.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	_, err = gc.Submit("add", 1, 2).Result(ctx)
	var remote *client.RemoteError
	if !errors.As(err, &remote) || !strings.Contains(remote.Message, `Go task add cannot run on Symphony worker manager "wm-sym"`) {
		t.Fatalf("Go task: %v", err)
	}

	mgr.Signal(syscall.SIGTERM)
	mgr.Wait(t, 30*time.Second)
	if code := mgr.ExitCode(); code != 0 {
		t.Fatalf("exit %d\n%s", code, mgr.Output())
	}
	if n := fake.OpenSessions(); n != 0 {
		t.Fatalf("%d sessions left open after shutdown", n)
	}
	if !strings.Contains(mgr.Output(), "Symphony session closed") {
		t.Fatal("no session close logged")
	}
}

// Cancel: a task in Symphony cannot be aborted, so the cancel is refused and its result
// still arrives; a task not yet in Symphony is cancelled. A lost session fails its task
// with the reason, and the next task runs in a new session.
func TestEndToEndCancelAndSessionLoss(t *testing.T) {
	pyclient.Require(t)
	cluster := testbin.StartCluster(t, nil, 0)
	fake := symresttest.Start(t, symresttest.Options{})
	mgr := startManager(t, nil, cluster.Address(), fake.URL, "--max-task-concurrency", "1")
	mgr.WaitOutput(t, "Symphony session opened", 30*time.Second)
	pc := pyConnect(t, cluster.Address())
	echo := pyclient.Pickle(t, "def echo(x):\n    return x\n", "echo")

	fake.Hold()
	inSymphony := submit(t, pc, "echo", echo, pyclient.Pickle(t, "", "'A'"))
	waitFakeSubmitted(t, fake, 1)
	waiting := submit(t, pc, "echo", echo, pyclient.Pickle(t, "", "'B'"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	if typ, err := pc.Cancel(ctx, inSymphony); err == nil {
		t.Fatalf("cancel of a task in Symphony was confirmed: %v", typ)
	}
	cancel()
	mgr.WaitOutput(t, "cancel refused", 10*time.Second)
	if !strings.Contains(mgr.Output(), "cannot abort") {
		t.Fatal("the refusal does not say why")
	}
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	typ, err := pc.Cancel(ctx, waiting)
	cancel()
	if err != nil || typ != protocol.CancelConfirmCanceled {
		t.Fatalf("cancel of a waiting task: %v %v", typ, err)
	}
	fake.Release()
	if r := wait(t, pc, inSymphony); r.Type != protocol.ResultSuccess || !strings.HasPrefix(pyclient.Describe(t, r.Payload), "str|'A'|") {
		t.Fatalf("the refused-cancel task: %v %s", r.Type, pyclient.Describe(t, r.Payload))
	}
	if fake.Submitted() != 1 {
		t.Fatalf("%d tasks reached Symphony; the cancelled one must not", fake.Submitted())
	}

	fake.Hold()
	lost := submit(t, pc, "echo", echo, pyclient.Pickle(t, "", "'C'"))
	waitFakeSubmitted(t, fake, 2)
	fake.LoseSessions()
	r := wait(t, pc, lost)
	if got := pyclient.Describe(t, r.Payload); r.Type != protocol.ResultFailed || !strings.HasPrefix(got, "RuntimeError|") || !strings.Contains(got, "was lost") {
		t.Fatalf("task of a lost session: %v %s", r.Type, got)
	}
	fake.Release()
	if r := wait(t, pc, submit(t, pc, "echo", echo, pyclient.Pickle(t, "", "'D'"))); r.Type != protocol.ResultSuccess {
		t.Fatalf("after the session loss: %v", r.Type)
	}
	if n := strings.Count(mgr.Output(), "Symphony session opened"); n != 2 {
		t.Fatalf("%d sessions opened, want 2", n)
	}
}

// Unusable SYMREST settings give one line each with what to check; the manager keeps
// running and retrying, and recovers when the problem goes away.
func TestEndToEndBadSettings(t *testing.T) {
	cluster := testbin.StartCluster(t, nil, 0)
	t.Run("unreachable, then up", func(t *testing.T) {
		addr := closedPort(t)
		mgr := startManager(t, nil, cluster.Address(), "http://"+addr)
		mgr.WaitOutput(t, "is unreachable", 30*time.Second)
		mgr.WaitOutput(t, "check --symrest-url", time.Second)
		alive(t, mgr)
		symresttest.Start(t, symresttest.Options{Addr: addr})
		mgr.WaitOutput(t, "Symphony session opened", 60*time.Second)
	})
	cases := []struct {
		name  string
		opts  symresttest.Options
		env   []string
		extra func(*symresttest.Server) []string
		want  []string
	}{
		{"bad credentials", symresttest.Options{Users: map[string]string{"alice": "secret"}}, []string{"SCALER_SYMPHONY_PASSWORD=wrong"},
			func(*symresttest.Server) []string { return []string{"--symphony-user", "alice"} }, []string{`refused user \"alice\"`, "SCALER_SYMPHONY_PASSWORD"}},
		{"unknown application", symresttest.Options{}, nil,
			func(*symresttest.Server) []string { return []string{"--service-name", "NoSuchApp"} }, []string{`no usable application \"NoSuchApp\"`, "check --service-name"}},
		{"TLS without the CA", symresttest.Options{TLS: true}, nil, nil, []string{"TLS with", "--symrest-ca-file"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fake := symresttest.Start(t, c.opts)
			var extra []string
			if c.extra != nil {
				extra = c.extra(fake)
			}
			mgr := startManager(t, c.env, cluster.Address(), fake.URL, extra...)
			for _, w := range c.want {
				mgr.WaitOutput(t, w, 30*time.Second)
			}
			alive(t, mgr)
		})
	}
	t.Run("TLS with the CA, password from a file", func(t *testing.T) {
		fake := symresttest.Start(t, symresttest.Options{TLS: true, Users: map[string]string{"bob": "pw"}})
		pw := filepath.Join(t.TempDir(), "pw")
		if err := os.WriteFile(pw, []byte("pw\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		mgr := startManager(t, nil, cluster.Address(), fake.URL, "--symrest-ca-file", fake.CAFile(t),
			"--symphony-user", "bob", "--symphony-password-file", pw, "--symphony-auth", "basic")
		mgr.WaitOutput(t, "Symphony session opened", 30*time.Second)
	})
	t.Run("no password", func(t *testing.T) {
		mgr := startManager(t, nil, cluster.Address(), "https://localhost:1", "--symphony-user", "carol")
		mgr.Wait(t, 30*time.Second)
		if mgr.ExitCode() == 0 || !strings.Contains(mgr.Output(), `no password for Symphony user "carol"`) {
			t.Fatalf("exit %d: %s", mgr.ExitCode(), mgr.Output())
		}
	})
}

// The launcher runs a scheduler and a symphony manager from one TOML file
// ([[worker_manager]] type = "symphony", as in the seed). The units advertise the python
// capability; while SYMREST is down their heartbeats carry the task lock (ITL column) and
// the task waits; after a restart of the "master" (sessions gone) a new session runs it.
func TestLauncherTOML(t *testing.T) {
	pyclient.Require(t)
	symAddr := closedPort(t)
	fake := symresttest.Start(t, symresttest.Options{Addr: symAddr})
	port := testbin.FreePorts(t, 3)
	sched := "tcp://127.0.0.1:" + strconv.Itoa(port)
	cfg := filepath.Join(t.TempDir(), "cluster.toml")
	toml := `[scheduler]
scheduler_address = "` + sched + `"
policy_content = "allocate=capability; scaling=capability"

[[worker_manager]]
type = "symphony"
scheduler_address = "` + sched + `"
worker_manager_id = "wm-symphony"
service_name = "ScalerService"
symrest_url = "` + fake.URL + `"
max_task_concurrency = 2
heartbeat_interval_seconds = 1
symphony_poll_interval_seconds = 0.05
`
	if err := os.WriteFile(cfg, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	launcher := testbin.Start(t, nil, "", cfg)
	launcher.WaitOutput(t, "Symphony session opened", 30*time.Second)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := monitor.Subscribe(ctx, monitor.StreamConfig{Address: address.MustParse("tcp://127.0.0.1:" + strconv.Itoa(port+2)),
		Role: "test", FirstConnect: transport.RetryPolicy{MaxRetries: 6, InitialDelay: 100 * time.Millisecond}, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	var mu sync.Mutex
	pythonWorker, taskLock := false, false
	go func() {
		for u := range stream.Updates() {
			mu.Lock()
			switch m := u.Msg.(type) {
			case *protocol.StateWorker:
				for _, c := range m.Capabilities {
					if strings.Contains(string(m.WorkerID), "|SYM|") && c.Name == "python" && c.Value == -1 {
						pythonWorker = true
					}
				}
			case *protocol.StateScheduler:
				for _, w := range m.Workers {
					if strings.Contains(string(w.WorkerID), "|SYM|") && len(w.ITL) == 3 && w.ITL[2] == '1' {
						taskLock = true
					}
				}
			}
			mu.Unlock()
		}
	}()
	check := func(what string, v *bool) func() error {
		return func() error {
			mu.Lock()
			defer mu.Unlock()
			if !*v {
				return errors.New(what)
			}
			return nil
		}
	}

	pc := pyConnect(t, sched)
	echo := pyclient.Pickle(t, "def echo(x):\n    return x\n", "echo")
	if r := wait(t, pc, submit(t, pc, "echo", echo, pyclient.Pickle(t, "", "1"))); r.Type != protocol.ResultSuccess {
		t.Fatalf("first task: %v", r.Type)
	}
	testbin.Eventually(t, 30*time.Second, check("no SYM worker with the python capability", &pythonWorker))

	fake.Stop()
	pending := submit(t, pc, "echo", echo, pyclient.Pickle(t, "", "2"))
	launcher.WaitOutput(t, "is unreachable", 30*time.Second)
	testbin.Eventually(t, 30*time.Second, check("no task lock while SYMREST is down", &taskLock))
	restarted := symresttest.Start(t, symresttest.Options{Addr: symAddr})
	if r := wait(t, pc, pending); r.Type != protocol.ResultSuccess || !strings.HasPrefix(pyclient.Describe(t, r.Payload), "int|2|") {
		t.Fatalf("task submitted while SYMREST was down: %v", r.Type)
	}
	launcher.WaitOutput(t, "Symphony reachable again", 10*time.Second)

	launcher.Signal(syscall.SIGTERM)
	launcher.Wait(t, 30*time.Second)
	if n := restarted.OpenSessions(); n != 0 {
		t.Fatalf("%d sessions left open", n)
	}
}

// --symphony-payload plain: exactly the Python adapter's contract. Results are the
// service's cloudpickle output; an exception arrives as a RuntimeError carrying
// Symphony's error message (the service's traceback text).
func TestEndToEndPlainPayload(t *testing.T) {
	pyclient.Require(t)
	cluster := testbin.StartCluster(t, nil, 0)
	fake := symresttest.Start(t, symresttest.Options{})
	mgr := startManager(t, nil, cluster.Address(), fake.URL, "--symphony-payload", "plain", "--max-task-concurrency", "1")
	mgr.WaitOutput(t, "Symphony session opened", 30*time.Second)
	pc := pyConnect(t, cluster.Address())
	r := wait(t, pc, submit(t, pc, "sqrt", sample(t, "func_math_sqrt.bin"), sample(t, "arg_16.bin")))
	if r.Type != protocol.ResultSuccess || string(r.Payload) != string(sample(t, "result_sqrt_16.bin")) {
		t.Fatalf("sqrt(16): %v % x", r.Type, r.Payload)
	}
	r = wait(t, pc, submit(t, pc, "div_zero", sample(t, "func_div_zero.bin"), sample(t, "arg_1.bin")))
	got := pyclient.Describe(t, r.Payload)
	if r.Type != protocol.ResultFailed || !strings.HasPrefix(got, "RuntimeError|") || !strings.Contains(got, "ZeroDivisionError: division by zero") ||
		!strings.Contains(got, "failed: Traceback") {
		t.Fatalf("div_zero(1): %v %s", r.Type, got)
	}
}
