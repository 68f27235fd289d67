package applets_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/internal/pyclient"
	"github.com/scaler-go/scaler/internal/testbin"
)

func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "interop", "samples", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pyConnect(t *testing.T, backend, addr string) *pyclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pyclient.Connect(ctx, backend, addr, pyclient.DefaultSerializer(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func runPy(t *testing.T, c *pyclient.Client, name string, fn []byte, args ...[]byte) *pyclient.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	id, err := c.Submit(ctx, name, fn, args...)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// The recorded pickles of the real Python client run on our workers, and our result is the
// byte-identical object the reference worker wrote.
func TestPythonTasksFromRecordedPickles(t *testing.T) {
	pyclient.Require(t)
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			c := testbin.StartCluster(t, backendEnv(backend), 0)
			c.AddWorker(t, "--python", pyclient.Python)
			pc := pyConnect(t, backend, c.Address())

			r := runPy(t, pc, "sqrt", sample(t, "func_math_sqrt.bin"), sample(t, "arg_16.bin"))
			if r.Type != protocol.ResultSuccess || !bytes.Equal(r.Payload, sample(t, "result_sqrt_16.bin")) {
				t.Fatalf("sqrt(16): %v % x", r.Type, r.Payload)
			}
			r = runPy(t, pc, "<lambda>", sample(t, "func_lambda.bin"), sample(t, "arg_2.bin"))
			if got := pyclient.Describe(t, r.Payload); r.Type != protocol.ResultSuccess || !strings.HasPrefix(got, "int|4|") {
				t.Fatalf("lambda(2): %v %s", r.Type, got)
			}
			r = runPy(t, pc, "len", sample(t, "func_len.bin"), sample(t, "object_blob.bin"))
			if got := pyclient.Describe(t, r.Payload); !strings.HasPrefix(got, "int|12|") {
				t.Fatalf("len(blob): %s", got)
			}
			// The original exception type, with the traceback of the worker side.
			r = runPy(t, pc, "div_zero", sample(t, "func_div_zero.bin"), sample(t, "arg_1.bin"))
			got := pyclient.Describe(t, r.Payload)
			if r.Type != protocol.ResultFailed || !strings.HasPrefix(got, "ZeroDivisionError|ZeroDivisionError('division by zero')|") ||
				!strings.Contains(got, "div_zero") || !strings.Contains(got, "Traceback") {
				t.Fatalf("div_zero(1): %v %s", r.Type, got)
			}
		})
	}
}

// Pickles made here with cloudpickle: closures, custom exceptions, output, profiling.
func TestPythonTaskKinds(t *testing.T) {
	pyclient.Require(t)
	c := testbin.StartCluster(t, nil, 0)
	c.AddWorker(t, "--python", pyclient.Python)
	pc := pyConnect(t, "ymq", c.Address())
	setup := `
class BadInput(ValueError):
    pass

def make_adder(n):
    def add(x):
        return x + n
    return add

def check(x):
    if x < 0:
        raise BadInput(f"negative: {x}")
    return x

def chatty(x):
    print("hello", x)
    import sys
    print("warning", file=sys.stderr)
    return x * 3
`
	r := runPy(t, pc, "add", pyclient.Pickle(t, setup, "make_adder(10)"), pyclient.Pickle(t, "", "5"))
	if got := pyclient.Describe(t, r.Payload); !strings.HasPrefix(got, "int|15|") {
		t.Fatalf("closure: %s", got)
	}
	r = runPy(t, pc, "check", pyclient.Pickle(t, setup, "check"), pyclient.Pickle(t, "", "-2"))
	// The class lives in the client's __main__, where the client unpickles it.
	got := pyclient.DescribeWith(t, setup, r.Payload)
	if r.Type != protocol.ResultFailed || !strings.HasPrefix(got, "BadInput|BadInput('negative: -2')|") || !strings.Contains(got, "in check") {
		t.Fatalf("custom exception: %s", got)
	}
	r = runPy(t, pc, "chatty", pyclient.Pickle(t, setup, "chatty"), pyclient.Pickle(t, "", "7"))
	if got := pyclient.Describe(t, r.Payload); !strings.HasPrefix(got, "int|21|") {
		t.Fatalf("chatty: %s", got)
	}
	logs := strings.Join(r.Logs, "")
	if !strings.Contains(logs, "hello 7\n") || !strings.Contains(logs, "warning\n") {
		t.Fatalf("task output not streamed: %q", r.Logs)
	}
	if r.Profile.DurationS <= 0 {
		t.Fatalf("no profile: %+v", r.Profile)
	}
	// Exceptions with arguments pickle cannot rebuild still reach the client.
	r = runPy(t, pc, "weird", pyclient.Pickle(t, "import threading\nclass Weird(Exception):\n    def __init__(self):\n        super().__init__('weird')\n        self.lock = threading.Lock()\ndef weird():\n    raise Weird()\n", "weird"))
	if e, err := protocol.ParsePickledException(r.Payload); r.Type != protocol.ResultFailed || err != nil || e.Name != "TaskExceptionNotSerializableError" || !strings.Contains(e.Message, "Weird") {
		t.Fatalf("unpicklable exception: %v %+v %v", r.Type, e, err)
	}
}

// Cancel and timeout stop a running Python task for real; a dying processor fails its task
// with ProcessorDiedError; the worker keeps serving.
func TestPythonCancelTimeoutAndProcessorDeath(t *testing.T) {
	pyclient.Require(t)
	c := testbin.StartCluster(t, nil, 0)
	c.AddWorker(t, "--task-timeout-seconds", "2", "--max-task-concurrency", "1", "--python", pyclient.Python)
	pc := pyConnect(t, "ymq", c.Address())
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	sleeper := pyclient.Pickle(t, "import time\ndef nap(s):\n    time.sleep(s)\n    return s\n", "nap")
	echo := pyclient.Pickle(t, "def echo(x):\n    return x\n", "echo")

	id, err := pc.Submit(ctx, "nap", sleeper, pyclient.Pickle(t, "", "1.5"))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // let it start on the processor
	if typ, err := pc.Cancel(ctx, id); err != nil || typ != protocol.CancelConfirmCanceled {
		t.Fatalf("cancel = %v %v", typ, err)
	}
	if got := pyclient.Describe(t, runPy(t, pc, "echo", echo, pyclient.Pickle(t, "", "'after cancel'")).Payload); !strings.HasPrefix(got, "str|'after cancel'") {
		t.Fatalf("after cancel: %s", got)
	}

	r := runPy(t, pc, "nap", sleeper, pyclient.Pickle(t, "", "30"))
	if got := pyclient.Describe(t, r.Payload); r.Type != protocol.ResultFailed || !strings.HasPrefix(got, "TimeoutError|") {
		t.Fatalf("timeout: %v %s", r.Type, got)
	}

	r = runPy(t, pc, "die", pyclient.Pickle(t, "import os\ndef die():\n    os._exit(3)\n", "die"))
	e, err := protocol.ParsePickledException(r.Payload)
	if r.Type != protocol.ResultFailed || err != nil || e.Module != "scaler.utility.exceptions" || e.Name != "ProcessorDiedError" || !strings.Contains(e.Message, "exitcode=3") {
		t.Fatalf("processor death: %v %+v %v", r.Type, e, err)
	}
	if got := pyclient.Describe(t, runPy(t, pc, "echo", echo, pyclient.Pickle(t, "", "1")).Payload); !strings.HasPrefix(got, "int|1|") {
		t.Fatalf("after death: %s", got)
	}
}

// A missing interpreter or a failing preload makes Python tasks fail with one clear line,
// while Go tasks keep working; a good preload runs before the first task.
func TestPythonUnavailableAndPreload(t *testing.T) {
	pyclient.Require(t)
	c := testbin.StartCluster(t, nil, 0)
	c.AddWorker(t, "--python", "/nonexistent/python3")
	pc := pyConnect(t, "ymq", c.Address())
	r := runPy(t, pc, "echo", pyclient.Pickle(t, "def echo(x):\n    return x\n", "echo"), pyclient.Pickle(t, "", "1"))
	if e, err := protocol.ParsePickledException(r.Payload); r.Type != protocol.ResultFailed || err != nil || !strings.Contains(e.Message, "/nonexistent/python3") {
		t.Fatalf("missing interpreter: %v %+v %v", r.Type, e, err)
	}
	gc := dial(t, "ymq", c.Address())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if v, err := gc.Submit("echo", "go still works").Result(ctx); err != nil || v != "go still works" {
		t.Fatalf("go task: %v %v", v, err)
	}

	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "mypreload.py"), []byte(`
import os
def configure(env, debug=True):
    os.environ["PRELOADED"] = f"{env}/{debug}"
def broken():
    raise RuntimeError("preload exploded")
`), 0o644)
	env := []string{"PYTHONPATH=" + dir}
	c2 := testbin.StartCluster(t, env, 0)
	c2.AddWorker(t, "--preload", "mypreload:configure('production', debug=False)", "--python", pyclient.Python)
	pc2 := pyConnect(t, "ymq", c2.Address())
	r = runPy(t, pc2, "env", pyclient.Pickle(t, "import os\ndef env():\n    return os.environ.get('PRELOADED')\n", "env"))
	if got := pyclient.Describe(t, r.Payload); !strings.HasPrefix(got, "str|'production/False'") {
		t.Fatalf("preload: %s", got)
	}
	c3 := testbin.StartCluster(t, env, 0)
	w := c3.AddWorker(t, "--preload", "mypreload:broken", "--python", pyclient.Python)
	pc3 := pyConnect(t, "ymq", c3.Address())
	r = runPy(t, pc3, "env", pyclient.Pickle(t, "def f():\n    return 1\n", "f"))
	if e, err := protocol.ParsePickledException(r.Payload); err != nil || !strings.Contains(e.Message, "preload exploded") {
		t.Fatalf("failing preload: %+v %v", e, err)
	}
	w.WaitOutput(t, "Python tasks cannot run on this worker", 10*time.Second)
}

// A task whose processor is suspended (its slot lent to a higher-priority task, with
// --hard-processor-suspend) and then force-cancelled never runs again: the reference
// resumed it when the borrower finished, and it completed after its cancellation.
func TestPythonForceCancelledSuspendedTaskNeverResumes(t *testing.T) {
	pyclient.Require(t)
	c := testbin.StartCluster(t, nil, 0)
	c.AddWorker(t, "--max-task-concurrency", "1", "--hard-processor-suspend", "--python", pyclient.Python)
	low := pyConnect(t, "ymq", c.Address())
	high := pyConnect(t, "ymq", c.Address())
	high.SetFlags(protocol.TaskFlags{Profiling: true, Priority: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	marker := func(name string) string { return filepath.Join(dir, name) }
	// Each task announces that it started, works for a while, then leaves its mark.
	work := pyclient.Pickle(t, "import time\ndef work(name, secs):\n    open(name + '.started', 'w').close()\n    time.sleep(secs)\n    open(name + '.done', 'w').close()\n    return name\n", "work")
	started := func(name string) error {
		if _, err := os.Stat(marker(name) + ".started"); err != nil {
			return err
		}
		return nil
	}

	a, err := low.Submit(ctx, "work", work, pyclient.Pickle(t, "", "'"+marker("a")+"'"), pyclient.Pickle(t, "", "2.0"))
	if err != nil {
		t.Fatal(err)
	}
	testbin.Eventually(t, 30*time.Second, func() error { return started("a") })
	b, err := high.Submit(ctx, "work", work, pyclient.Pickle(t, "", "'"+marker("b")+"'"), pyclient.Pickle(t, "", "1.0"))
	if err != nil {
		t.Fatal(err)
	}
	// b can only start by borrowing a's slot, which suspends a's processor.
	testbin.Eventually(t, 30*time.Second, func() error { return started("b") })
	if typ, err := low.Cancel(ctx, a); err != nil || typ != protocol.CancelConfirmCanceled {
		t.Fatalf("force cancel of the suspended task = %v %v", typ, err)
	}
	if r, err := high.Wait(ctx, b); err != nil || r.Type != protocol.ResultSuccess {
		t.Fatalf("borrower: %v %v", r, err)
	}
	// a had 2 s of work left when it was suspended; give it well over that to (wrongly)
	// finish after the borrower released the slot.
	time.Sleep(3 * time.Second)
	if _, err := os.Stat(marker("a") + ".done"); err == nil {
		t.Fatal("the force-cancelled suspended task ran to completion")
	}
	// The worker is still usable.
	echo := pyclient.Pickle(t, "def echo(x):\n    return x\n", "echo")
	if got := pyclient.Describe(t, runPy(t, low, "echo", echo, pyclient.Pickle(t, "", "7")).Payload); !strings.HasPrefix(got, "int|7|") {
		t.Fatalf("after: %s", got)
	}
}
