package applets_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/scaler-go/scaler/applets"
	"github.com/scaler-go/scaler/core/client"
	_ "github.com/scaler-go/scaler/core/transport/ymq"
	"github.com/scaler-go/scaler/internal/testbin"
)

// runTop runs scaler_top in this process and returns its exit status and stderr lines.
func runTop(t *testing.T, args ...string) (int, []string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := applets.Run(context.Background(), applets.Env{Stdout: &stdout, Stderr: &stderr},
		append([]string{"scaler_top"}, args...))
	return code, testbin.Lines(stderr.String())
}

// TestTopConfig reads monitor_address and timeout from [top] of a --config file, lets the
// command line win, warns about a misspelt key, and validates --timeout. The address has no
// monitor behind it and the ZMQ backend connects in the background, so the timeout is what
// ends each run, and the error says how long it waited.
func TestTopConfig(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	t.Setenv("SCALER_NETWORK_BACKEND", "zmq")
	port := testbin.FreePorts(t, 1)
	path := filepath.Join(t.TempDir(), "top.toml")
	toml := fmt.Sprintf("[top]\nmonitor_address = \"tcp://127.0.0.1:%d\"\ntimeout = 0.3\ntimout = 9\n", port)
	if err := os.WriteFile(path, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}

	code, errs := runTop(t, "--config", path)
	if code != 1 || len(errs) != 2 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	if !strings.Contains(errs[0], "warning") || !strings.Contains(errs[0], `did you mean "timeout"`) {
		t.Errorf("no warning for the misspelt key: %q", errs[0])
	}
	want := fmt.Sprintf("scaler_top: cannot connect to tcp://127.0.0.1:%d: no data within 300ms", port)
	if !strings.HasPrefix(errs[1], want) {
		t.Errorf("got %q, want it to start with %q", errs[1], want)
	}

	if code, errs = runTop(t, "--config", path, "-t", "0.2"); code != 1 || !strings.Contains(errs[len(errs)-1], "no data within 200ms") {
		t.Errorf("the command line does not win: exit %d, %q", code, errs)
	}
	for _, bad := range [][]string{{"-t", "0"}, {"--timeout", "-1"}, {"-t", "inf"}, {"--tls-cert", "c.pem"}} {
		if code, errs = runTop(t, append([]string{"--config", path}, bad...)...); code != 2 || len(errs) != 1 {
			t.Errorf("%v: exit %d, stderr %q; want a usage error", bad, code, errs)
		}
	}
}

// TestTopWrongAddress runs the real binary against addresses without a monitor: it must end
// with one line on stderr and a non-zero status, before touching the terminal.
func TestTopWrongAddress(t *testing.T) {
	port := testbin.FreePorts(t, 1)
	addr := "tcp://127.0.0.1:" + strconv.Itoa(port)
	tests := []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"ymq refused", nil, []string{addr}, 1, "connection refused"},
		{"zmq nothing there", []string{"SCALER_NETWORK_BACKEND=zmq"}, []string{addr, "-t", "0.5"}, 1, "no data within 500ms"},
		{"malformed", nil, []string{"tcp//127.0.0.1"}, 2, "invalid address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testbin.Start(t, tt.env, "scaler_top", tt.args...)
			p.Wait(t, 30*time.Second)
			out := testbin.Lines(p.Output())
			if p.ExitCode() != tt.code || len(out) != 1 || !strings.HasPrefix(out[0], "scaler_top: ") || !strings.Contains(out[0], tt.want) {
				t.Fatalf("exit %d, output %q; want exit %d and one line with %q", p.ExitCode(), out, tt.code, tt.want)
			}
		})
	}
}

// tmuxSession is a private tmux server (its own socket) holding one pane.
type tmuxSession struct {
	t    *testing.T
	bin  string
	sock string
}

func (s *tmuxSession) run(args ...string) (string, error) {
	cmd := exec.Command(s.bin, append([]string{"-L", s.sock}, args...)...)
	// Inside someone's tmux the variable would point the client at their server.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, "TMUX=") })
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (s *tmuxSession) screen() []string {
	out, err := s.run("capture-pane", "-p", "-t", "top")
	if err != nil {
		s.t.Fatalf("capture-pane: %v: %s", err, out)
	}
	return strings.Split(out, "\n")
}

func (s *tmuxSession) keys(keys ...string) {
	if out, err := s.run(append([]string{"send-keys", "-t", "top"}, keys...)...); err != nil {
		s.t.Fatalf("send-keys: %v: %s", err, out)
	}
}

// waitScreen polls the pane until check passes.
func (s *tmuxSession) waitScreen(d time.Duration, what string, check func([]string) bool) []string {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for {
		ls := s.screen()
		if check(ls) {
			return ls
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the pane never showed %s; last screen:\n%s", what, strings.Join(ls, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var (
	successRe = regexp.MustCompile(`\bsuccess +([\d,]+)`)
	workerRe  = regexp.MustCompile(`(Worker\|GO\|[0-9a-f]+)`)
)

func successCount(ls []string) int {
	for _, l := range ls {
		if m := successRe.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(strings.ReplaceAll(m[1], ",", ""))
			return n
		}
	}
	return -1
}

// workerRows returns the worker ids of the table rows, top to bottom.
func workerRows(ls []string) []string {
	var out []string
	for _, l := range ls {
		if m := workerRe.FindStringSubmatch(l); m != nil {
			out = append(out, m[1])
		}
	}
	return out
}

// TestTopInTmux runs the real scaler_top in a real terminal (a tmux pane of 200×50) against a
// live scheduler with two workers and a client keeping tasks running: the screen shows the
// workers and moving task counters, a sort key reorders the table, and q exits with the
// terminal restored.
func TestTopInTmux(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster and a terminal")
	}
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux is not installed (apt-get install -y tmux)")
	}
	bin := testbin.Binary(t)
	cl := testbin.StartCluster(t, nil, 2)
	cl.WaitWorkers(t, 2, 30*time.Second)

	c := dial(t, "", cl.Address())
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			var fs []*client.Future
			for range 8 {
				fs = append(fs, c.Submit("sleep", 0.05))
			}
			for _, f := range fs {
				_, _ = f.Result(ctx)
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})

	s := &tmuxSession{t: t, bin: tmux, sock: fmt.Sprintf("scaler-top-test-%d", os.Getpid())}
	script := fmt.Sprintf(`before=$(stty -g); %s scaler_top %s --timeout 10; rc=$?; `+
		`if [ "$before" = "$(stty -g)" ]; then echo "tty restored"; else echo "tty changed"; fi; echo "scaler_top exit $rc"; sleep 600`,
		bin, cl.Monitor())
	if out, err := s.run("new-session", "-d", "-x", "200", "-y", "50", "-s", "top", script); err != nil {
		t.Fatalf("tmux new-session: %v: %s", err, out)
	}
	t.Cleanup(func() { _, _ = s.run("kill-server") })

	ls := s.waitScreen(20*time.Second, "two workers", func(ls []string) bool { return len(workerRows(ls)) == 2 })
	for _, want := range []string{"scheduler", "object_manager", "task_manager", "scheduler_sent", "scheduler_received",
		"Shortcuts: manager[g]", "Total 0 manager(s) with 2 worker(s)", "[cpu]", "os_rss_free", "client_manager", "q quit"} {
		if !strings.Contains(strings.Join(ls, "\n"), want) {
			t.Errorf("%q not on the screen", want)
		}
	}
	first := successCount(ls)
	if first < 0 {
		t.Fatalf("no success counter:\n%s", strings.Join(ls, "\n"))
	}
	s.waitScreen(15*time.Second, "the success counter moving", func(ls []string) bool { return successCount(ls) > first })

	s.keys("n")
	ls = s.waitScreen(5*time.Second, "the table sorted by worker", func(ls []string) bool {
		return strings.Contains(strings.Join(ls, "\n"), "[worker]")
	})
	desc := workerRows(ls)
	s.keys("n")
	ls = s.waitScreen(5*time.Second, "the order reversed", func(ls []string) bool {
		rows := workerRows(ls)
		return len(rows) == 2 && len(desc) == 2 && rows[0] == desc[1] && rows[1] == desc[0]
	})
	if rows := workerRows(ls); rows[0] > rows[1] {
		t.Errorf("second n: %v is not ascending", rows)
	}

	s.keys("q")
	ls = s.waitScreen(10*time.Second, "scaler_top's exit", func(ls []string) bool {
		return strings.Contains(strings.Join(ls, "\n"), "scaler_top exit")
	})
	screen := strings.Join(ls, "\n")
	if !strings.Contains(screen, "scaler_top exit 0") || !strings.Contains(screen, "tty restored") {
		t.Errorf("q: %q", screen)
	}
	if strings.Contains(screen, "Shortcuts:") {
		t.Errorf("the dashboard is still on the screen after q:\n%s", screen)
	}

	// Without a terminal the dashboard refuses with one line once it has data.
	p := testbin.Start(t, nil, "scaler_top", cl.Monitor())
	p.Wait(t, 20*time.Second)
	if out := testbin.Lines(p.Output()); p.ExitCode() != 1 || len(out) != 1 || !strings.Contains(out[0], "needs a terminal") {
		t.Errorf("without a terminal: exit %d, %q", p.ExitCode(), out)
	}
}
