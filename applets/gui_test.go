package applets_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scaler-go/scaler/applets"
	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/transport"
	_ "github.com/scaler-go/scaler/core/transport/ymq"
	"github.com/scaler-go/scaler/internal/testbin"
)

// runGUI runs scaler_gui in this process and returns its exit code and stderr.
func runGUI(ctx context.Context, args ...string) (int, string) {
	var stdout, stderr bytes.Buffer
	code := applets.Run(ctx, applets.Env{Stdout: &stdout, Stderr: &stderr}, append([]string{"scaler_gui"}, args...))
	return code, stderr.String()
}

func TestGUIOptionErrors(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	busy := held.Addr().String()
	for _, tc := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"tcp://127.0.0.1:6380", "--gui-address", busy}, 1, []string{"scaler_gui: cannot listen on " + busy, "address already in use"}},
		{[]string{"tcp://127.0.0.1:6380", "--gui-address", "localhost"}, 2, []string{"HOST:PORT"}},
		{[]string{"tcp://127.0.0.1:6380", "--gui-address", "127.0.0.1:0"}, 2, []string{"between 1 and 65535"}},
		{[]string{"tcp://127.0.0.1:6380", "-bi", "0"}, 2, []string{"broadcast-interval-seconds"}},
		{[]string{"tcp://127.0.0.1:6380", "-tl", "-5"}, 2, []string{"task-log-max-size"}},
		{[]string{"--gui-address", "127.0.0.1:1"}, 2, []string{"monitor_address"}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		code, stderr := runGUI(ctx, tc.args...)
		cancel()
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d (%q)", tc.args, code, tc.code, stderr)
		}
		if tc.code == 1 && strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: error is not one line: %q", tc.args, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%v: stderr %q lacks %q", tc.args, stderr, w)
			}
		}
	}
}

// TestGUIServesAndStops runs scaler_gui in-process against a monitor publisher of the test:
// the dashboard comes up, shows the published worker, and stops cleanly (goleak checks that
// nothing is left running) when its context ends.
func TestGUIServesAndStops(t *testing.T) {
	b, err := transport.Lookup("ymq")
	if err != nil {
		t.Fatal(err)
	}
	ports := testbin.FreePorts(t, 2)
	monitorAddr := "tcp://127.0.0.1:" + strconv.Itoa(ports)
	guiAddr := "127.0.0.1:" + strconv.Itoa(ports+1)
	pctx, pcancel := context.WithCancel(context.Background())
	pub, err := b.Publish(pctx, address.MustParse(monitorAddr), transport.Options{Identity: "test-scheduler", Logger: quiet()})
	if err != nil {
		pcancel()
		t.Fatal(err)
	}
	raw, err := protocol.Encode(&protocol.StateScheduler{Workers: []protocol.WorkerStatus{{WorkerID: []byte("Worker|gui-test|1"), ITL: "100"}}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-pctx.Done():
				return
			case <-tick.C:
				pub.Publish(append([]byte(nil), raw...))
			}
		}
	}()
	defer func() {
		pcancel()
		wg.Wait()
		pub.Close()
	}()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		code, _ := runGUI(ctx, monitorAddr, "--gui-address", guiAddr, "-bi", "0.1", "--logging-level", "CRITICAL")
		done <- code
	}()
	testbin.Eventually(t, 20*time.Second, func() error {
		resp, err := http.Get("http://" + guiAddr + "/workers")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(body), `data-worker="Worker|gui-test|1"`) {
			return fmt.Errorf("worker not listed yet (%s)", resp.Status)
		}
		return nil
	})
	resp, err := http.Get("http://" + guiAddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("healthz %s", resp.Status)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after the context ended", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("scaler_gui did not stop")
	}
}

const guiCluster = `
[scheduler]
scheduler_address = "tcp://127.0.0.1:PORT0"

[gui]
monitor_address = "tcp://127.0.0.1:PORT2"
gui_address = "127.0.0.1:PORTGUI"
broadcast_interval_seconds = 0.2
`

// TestLauncherGUISection starts a scheduler and the dashboard from one TOML file; a worker
// that joins shows up on the workers page.
func TestLauncherGUISection(t *testing.T) {
	cl := startLauncher(t, guiCluster, 0)
	base := "http://127.0.0.1:" + strconv.Itoa(cl.Port+3)
	cl.AddWorker(t)
	testbin.Eventually(t, 30*time.Second, func() error {
		resp, err := http.Get(base + "/workers")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(body), `data-worker="Worker|`) {
			return fmt.Errorf("no worker on the page yet")
		}
		return nil
	})
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("healthz %s", resp.Status)
	}
	select {
	case <-cl.Scheduler.Done():
		t.Fatalf("launcher exited: %s", cl.Scheduler.Output())
	default:
	}
}

// TestLauncherGUIPortInUse: a [gui] whose port is taken fails the launch with one line.
func TestLauncherGUIPortInUse(t *testing.T) {
	port := testbin.FreePorts(t, 4)
	held, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+3))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	launcher := testbin.Start(t, nil, "", writeConfig(t, guiCluster, port))
	launcher.Wait(t, 30*time.Second)
	if launcher.ExitCode() == 0 {
		t.Fatalf("launcher succeeded with the GUI port taken:\n%s", launcher.Output())
	}
	lines := testbin.Lines(launcher.Output())
	last := lines[len(lines)-1]
	want := fmt.Sprintf("gui failed: cannot listen on 127.0.0.1:%d", port+3)
	if !strings.Contains(last, want) || !strings.Contains(last, "address already in use") {
		t.Errorf("last line %q, want it to contain %q", last, want)
	}
}
