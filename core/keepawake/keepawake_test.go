package keepawake

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The keeper is off by default; these tests run it with a 1 ms window.
func TestMain(m *testing.M) {
	os.Setenv(EnvWindow, "1000")
	os.Exit(m.Run())
}

func TestWindow(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{"", DefaultWindow, false},
		{"0", 0, false},
		{"250", 250 * time.Microsecond, false},
		{"99999999", maxWindow, false},
		{"-1", 0, true},
		{"1ms", 0, true},
		{" 5", 0, true},
	} {
		got, err := Window(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("Window(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.bad)
		}
		if err != nil && !strings.Contains(err.Error(), EnvWindow) {
			t.Errorf("Window(%q) error %q does not name %s", tc.in, err, EnvWindow)
		}
	}
}

func TestCheckEnv(t *testing.T) {
	t.Setenv(EnvWindow, "fast")
	if err := CheckEnv(); err == nil || !strings.Contains(err.Error(), EnvWindow) {
		t.Fatalf("CheckEnv = %v", err)
	}
	t.Setenv(EnvWindow, "50")
	if err := CheckEnv(); err != nil {
		t.Fatal(err)
	}
}

func TestKeeperSpinsAfterTouchThenSleeps(t *testing.T) {
	if on, why := Enabled(); !on {
		t.Skipf("keeper off here: %v", why)
	}
	// The keeper runs at idle priority (policy 5 in /proc/.../stat's 41st field).
	stat, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(keeperThread()) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	if comm, _ := os.ReadFile("/proc/self/task/" + strconv.Itoa(keeperThread()) + "/comm"); strings.TrimSpace(string(comm)) != "keepawake" {
		t.Errorf("keeper thread named %q", comm)
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	if policy := fields[41-3]; policy != "5" {
		t.Fatalf("keeper scheduling policy %s, want 5 (SCHED_IDLE)", policy)
	}

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("keeper never %s", what)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitFor("went to sleep", keeperSleeping)
	before := spinCount()
	Touch()
	waitFor("started spinning", func() bool { return spinCount() > before })
	waitFor("went back to sleep", keeperSleeping)
	if n := spinCount() - before; n != 1 {
		t.Fatalf("%d spin periods for one touch", n)
	}

	// Dense traffic makes it step aside instead of spinning in the gaps.
	busy := busyCount()
	for i := 0; i < 1000; i++ {
		Touch()
	}
	waitFor("stepped aside under dense traffic", func() bool { return busyCount() > busy })
}
