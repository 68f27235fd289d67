package config

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"reflect"
	"strings"
	"testing"

	"github.com/scaler-go/scaler/core/config/address"
)

const schedulerTOML = `
[scheduler]
scheduler_address = "tcp://127.0.0.1:6378"
object_storage_address = "tcp://127.0.0.1:6379"
client_timeout_seconds = 30
network_backend = "zmq"
logging_level = "WARNING"
`

// parseScheduler runs the scheduler-like command over args with the given environment and
// an in-memory config file "s.toml".
func parseScheduler(t *testing.T, args []string, env map[string]string, file string) (*schedulerConfig, *Result, error) {
	t.Helper()
	var c schedulerConfig
	res, err := schedulerCommand(&c).Parse(args, ParseOptions{
		LookupEnv: envMap(env),
		Stdout:    io.Discard,
		ReadFile:  memFiles(map[string]string{"s.toml": file}),
	})
	return &c, res, err
}

func TestPrecedenceMatrix(t *testing.T) {
	// client_timeout_seconds has no env var; network_backend has one. The layers give the
	// backend alternating values (default ymq, file zmq, env ymq, command line zmq), and each
	// row names the value and source that must win.
	const addr = "tcp://127.0.0.1:6378"
	tests := []struct {
		name          string
		cli, env      bool
		toml          bool
		wantTimeout   int
		timeoutSource Source
		wantBackend   string
		backendSource Source
	}{
		{name: "default only", wantTimeout: 60, timeoutSource: FromDefault, wantBackend: "ymq", backendSource: FromDefault},
		{name: "toml over default", toml: true, wantTimeout: 30, timeoutSource: FromFile, wantBackend: "zmq", backendSource: FromFile},
		{name: "env over toml", toml: true, env: true, wantTimeout: 30, timeoutSource: FromFile, wantBackend: "ymq", backendSource: FromEnv},
		{name: "env over default", env: true, wantTimeout: 60, timeoutSource: FromDefault, wantBackend: "ymq", backendSource: FromEnv},
		{name: "cli over env and toml", cli: true, env: true, toml: true, wantTimeout: 5, timeoutSource: FromCommandLine, wantBackend: "zmq", backendSource: FromCommandLine},
		{name: "cli over env", cli: true, env: true, wantTimeout: 5, timeoutSource: FromCommandLine, wantBackend: "zmq", backendSource: FromCommandLine},
		{name: "cli over toml", cli: true, toml: true, wantTimeout: 5, timeoutSource: FromCommandLine, wantBackend: "zmq", backendSource: FromCommandLine},
		{name: "cli over default", cli: true, wantTimeout: 5, timeoutSource: FromCommandLine, wantBackend: "zmq", backendSource: FromCommandLine},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{addr}
			if tt.cli {
				args = append(args, "--client-timeout-seconds", "5", "--network-backend", "zmq")
			}
			if tt.toml {
				args = append(args, "-c", "s.toml")
			}
			env := map[string]string{}
			if tt.env {
				env[NetworkBackendEnv] = "ymq"
			}
			c, res, err := parseScheduler(t, args, env, schedulerTOML)
			if err != nil {
				t.Fatal(err)
			}
			if c.ClientTimeout != tt.wantTimeout || res.Source("client-timeout-seconds") != tt.timeoutSource {
				t.Errorf("client timeout = %d from %v, want %d from %v", c.ClientTimeout, res.Source("client-timeout-seconds"), tt.wantTimeout, tt.timeoutSource)
			}
			if c.NetworkBackend != tt.wantBackend || res.Source("network-backend") != tt.backendSource {
				t.Errorf("network backend = %q from %v, want %q from %v", c.NetworkBackend, res.Source("network-backend"), tt.wantBackend, tt.backendSource)
			}
		})
	}
}

func TestEnvDeclaredOnlyWhereDeclared(t *testing.T) {
	// An environment variable named like an option without an Env declaration is ignored.
	c, _, err := parseScheduler(t, []string{"tcp://h:1"}, map[string]string{"CLIENT_TIMEOUT_SECONDS": "7", NetworkBackendEnv: ""}, "")
	if err != nil {
		t.Fatal(err)
	}
	if c.ClientTimeout != 60 || c.NetworkBackend != "ymq" {
		t.Fatalf("got timeout %d backend %q, want the defaults", c.ClientTimeout, c.NetworkBackend)
	}
}

func TestArgvShapes(t *testing.T) {
	osa := address.MustParse("tcp://127.0.0.1:6379")
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, c *schedulerConfig)
	}{
		{
			name: "flags after positional",
			args: []string{"tcp://127.0.0.1:6378", "--object-storage-address", "tcp://127.0.0.1:6379", "--monitor-address", "tcp://127.0.0.1:6380",
				"--policy-engine-type", "simple", "--policy-content", "allocate=even_load; scaling=no", "--logging-level", "INFO"},
			check: func(t *testing.T, c *schedulerConfig) {
				if c.ObjectStorage != osa || c.Monitor.Port != 6380 || c.PolicyContent != "allocate=even_load; scaling=no" {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name: "flags before and after positional",
			args: []string{"-p", "tcp://127.0.0.1:6378", "-osa", "tcp://127.0.0.1:6379"},
			check: func(t *testing.T, c *schedulerConfig) {
				if !c.Protected || c.ObjectStorage != osa || c.Address.Port != 6378 {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name: "equals form and double-dash short alias",
			args: []string{"--osa=tcp://127.0.0.1:6379", "--ct=9", "-wt=8", "tcp://127.0.0.1:6378"},
			check: func(t *testing.T, c *schedulerConfig) {
				if c.ObjectStorage != osa || c.ClientTimeout != 9 || c.WorkerTimeout != 8 {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name: "negative number as a flag value",
			args: []string{"tcp://127.0.0.1:6378", "-ls", "-1", "-mt", "-1"},
			check: func(t *testing.T, c *schedulerConfig) {
				if c.LoadBalanceSeconds != -1 || c.MaxTasksWaiting != -1 {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name: "double dash ends options",
			args: []string{"-p", "--", "tcp://127.0.0.1:6378"},
			check: func(t *testing.T, c *schedulerConfig) {
				if !c.Protected || c.Address.Port != 6378 {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name: "repeated scalar: last wins, across spellings",
			args: []string{"tcp://h:1", "-ct", "5", "--client-timeout-seconds", "6"},
			check: func(t *testing.T, c *schedulerConfig) {
				if c.ClientTimeout != 6 {
					t.Errorf("client timeout = %d, want 6", c.ClientTimeout)
				}
			},
		},
		{
			name: "repeated list flag adds up",
			args: []string{"tcp://h:1", "-lp", "/dev/stdout", "--logging-paths", "a.log,,b.log"},
			check: func(t *testing.T, c *schedulerConfig) {
				if want := []string{"/dev/stdout", "a.log", "b.log"}; !reflect.DeepEqual(c.Logging.Paths, want) {
					t.Errorf("paths = %q, want %q", c.Logging.Paths, want)
				}
			},
		},
		{
			name: "bool flag given a value",
			args: []string{"tcp://h:1", "--protected=false", "-p=true"},
			check: func(t *testing.T, c *schedulerConfig) {
				if !c.Protected {
					t.Errorf("protected = false, want the last occurrence (true)")
				}
			},
		},
		{
			name: "multi-line policy text",
			args: []string{"tcp://h:1", "-et", "waterfall_v1", "-pc", "linux, 1, 8\ngpu, 2, 4"},
			check: func(t *testing.T, c *schedulerConfig) {
				if c.PolicyContent != "linux, 1, 8\ngpu, 2, 4" || c.PolicyEngine != "waterfall_v1" {
					t.Errorf("got %q / %q", c.PolicyEngine, c.PolicyContent)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := parseScheduler(t, tt.args, nil, "")
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestConfigFlagSpellings(t *testing.T) {
	for _, args := range [][]string{
		{"-c", "s.toml"},
		{"--config", "s.toml"},
		{"--config=s.toml"},
		{"-c=s.toml"},
		{"-config", "s.toml"},
		{"-p", "-c", "s.toml", "-ct", "4"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			c, res, err := parseScheduler(t, args, nil, schedulerTOML)
			if err != nil {
				t.Fatal(err)
			}
			if res.ConfigFile != "s.toml" {
				t.Errorf("config file = %q", res.ConfigFile)
			}
			// The positional came from TOML.
			if c.Address.String() != "tcp://127.0.0.1:6378" || c.Logging.Level != "WARNING" {
				t.Errorf("got %+v", c)
			}
			if res.Source("scheduler-address") != FromFile {
				t.Errorf("scheduler address source = %v", res.Source("scheduler-address"))
			}
		})
	}
}

func TestCommandLineErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{name: "zero load balance", args: []string{"tcp://h:1", "--load-balance-seconds", "0"}, want: "--load-balance-seconds: must not be 0"},
		{name: "zero via short alias names the long flag", args: []string{"tcp://h:1", "-ls", "0"}, want: "--load-balance-seconds: must not be 0"},
		{name: "bad enum", args: []string{"tcp://h:1", "-el", "UVLOOP"}, want: `--event-loop: "UVLOOP" is not one of builtin, uvloop`},
		{name: "bad int", args: []string{"tcp://h:1", "-ct", "abc"}, want: `--client-timeout-seconds: "abc" is not an integer`},
		{name: "out of range int", args: []string{"tcp://h:1", "-ct", "99999999999999999999"}, want: `--client-timeout-seconds: "99999999999999999999" is out of range`},
		{name: "negative timeout", args: []string{"tcp://h:1", "-ct", "-5"}, want: "--client-timeout-seconds: must be greater than 0, got -5"},
		{name: "bad address flag", args: []string{"tcp://h:1", "-osa", "localhost:6379"}, want: `--object-storage-address: invalid address "localhost:6379"`},
		{name: "bad positional", args: []string{"tcp://h"}, want: `scheduler_address: invalid address "tcp://h": missing port`},
		{name: "bad bool", args: []string{"tcp://h:1", "--protected=maybe"}, want: `--protected: "maybe" is not true or false`},
		{name: "unknown flag with suggestion", args: []string{"tcp://h:1", "--client-timeout-second", "5"}, want: "unknown flag --client-timeout-second; did you mean --client-timeout-seconds?"},
		{name: "unknown flag without suggestion", args: []string{"tcp://h:1", "-zzzzzz"}, want: "unknown flag -zzzzzz"},
		{name: "unknown flag with value", args: []string{"--bogus=1", "tcp://h:1"}, want: "unknown flag --bogus"},
		{name: "missing value", args: []string{"tcp://h:1", "-ct"}, want: "-ct: needs a value"},
		{name: "missing positional", args: []string{"-p"}, want: "missing <scheduler_address> (give it on the command line or in [scheduler] of a --config file)"},
		{name: "extra positional", args: []string{"tcp://h:1", "tcp://h:2"}, want: `unexpected argument "tcp://h:2" (usage: scaler_scheduler [options] <scheduler_address>)`},
		{name: "bad flag syntax", args: []string{"---x"}, want: `bad flag syntax "---x"`},
		{name: "tls pair", args: []string{"tcp://h:1", "-tc", "cert.pem"}, want: "--tls-cert and --tls-key must be given together"},
		{name: "bad env value", args: []string{"tcp://h:1"}, env: map[string]string{NetworkBackendEnv: "tcp"}, want: `$SCALER_NETWORK_BACKEND: "tcp" is not one of ymq, zmq`},
		{name: "empty logging paths", args: []string{"tcp://h:1", "-lp", ","}, want: "--logging-paths: must name at least one item"},
		{name: "missing config file", args: []string{"tcp://h:1", "-c", "nope.toml"}, want: "config file: open nope.toml: file does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := parseScheduler(t, tt.args, tt.env, "")
			checkOneLineError(t, err, tt.want)
			var ue UsageError
			if isUsage := errors.As(err, &ue); isUsage == strings.HasPrefix(tt.want, "config file:") {
				t.Errorf("usage error = %v for %q", isUsage, err)
			}
		})
	}
}

// checkOneLineError fails unless err is a one-line error starting with want.
func checkOneLineError(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error = %q\nwant prefix %q", err, want)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error spans lines: %q", err)
	}
}

func TestHelpFlag(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"tcp://h:1", "-p", "-h"}, {"-ct", "5", "--help"}, {"--bogus", "-h"}, {"-h", "-ct"}} {
		var out bytes.Buffer
		var c schedulerConfig
		_, err := schedulerCommand(&c).Parse(args, ParseOptions{Stdout: &out})
		if !errors.Is(err, ErrHelp) {
			t.Fatalf("%q: err = %v, want ErrHelp", args, err)
		}
		if !strings.Contains(out.String(), "USAGE:\n   scaler_scheduler [options] <scheduler_address>") {
			t.Errorf("%q: help output:\n%s", args, out.String())
		}
	}
}

func parseManager(t *testing.T, args []string, env map[string]string, file string) (*managerConfigs, *Result, error) {
	t.Helper()
	var c managerConfigs
	res, err := workerManagerCommand(&c).Parse(args, ParseOptions{
		LookupEnv: envMap(env),
		Stdout:    io.Discard,
		ReadFile:  memFiles(map[string]string{"wm.toml": file}),
	})
	return &c, res, err
}

func TestWorkerManagerCommandLine(t *testing.T) {
	c, res, err := parseManager(t, []string{"baremetal_native", "tcp://127.0.0.1:6378",
		"--worker-manager-id", "wm-fixed", "--mode", "fixed", "--max-task-concurrency", "10", "-dts", "300",
		"-pwc", "gpu,linux=2", "-hps", "-wtqs", "5", "-tm", "2048", "--preload", "mypackage.init:configure('production', debug=False)"}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Command.Name != "baremetal_native" {
		t.Fatalf("command = %s", res.Command.Name)
	}
	n := c.native
	if n.Manager.ID != "wm-fixed" || n.Mode != "fixed" || n.Manager.MaxTaskConcurrency != 10 || n.Worker.DeathTimeout != 300 ||
		!n.Worker.HardSuspend || n.Worker.QueueSize != 5 || n.Worker.TrimMemoryBytes != 2048 ||
		n.Worker.Preload != "mypackage.init:configure('production', debug=False)" {
		t.Errorf("got %+v", n)
	}
	if want := map[string]int{"gpu": -1, "linux": 2}; !maps.Equal(n.Worker.Capabilities, want) {
		t.Errorf("capabilities = %v, want %v", n.Worker.Capabilities, want)
	}
	if n.Manager.SchedulerAddress.Port != 6378 {
		t.Errorf("scheduler address = %v", n.Manager.SchedulerAddress)
	}
}

func TestWorkerManagerAlias(t *testing.T) {
	tests := []struct {
		args []string
		want int
	}{
		{[]string{"-n", "3"}, 3},
		{[]string{"--num-of-workers=4"}, 4},
		{[]string{"-mtc", "5", "-n", "6"}, 6},
		{[]string{"-n", "6", "-mtc", "5"}, 5},
	}
	for _, tt := range tests {
		args := append([]string{"baremetal_native", "tcp://h:1", "-wmi", "x"}, tt.args...)
		c, res, err := parseManager(t, args, nil, "")
		if err != nil {
			t.Fatalf("%q: %v", tt.args, err)
		}
		if got := c.native.Manager.MaxTaskConcurrency; got != tt.want {
			t.Errorf("%q: max task concurrency = %d, want %d", tt.args, got, tt.want)
		}
		if res.Source("max-task-concurrency") != FromCommandLine {
			t.Errorf("%q: source = %v", tt.args, res.Source("max-task-concurrency"))
		}
	}
	// The alias belongs to baremetal_native only.
	_, _, err := parseManager(t, []string{"symphony", "tcp://h:1", "-wmi", "x", "-sn", "S", "-n", "3"}, nil, "")
	if err == nil || !strings.HasPrefix(err.Error(), "unknown flag -n") {
		t.Errorf("symphony -n: err = %v", err)
	}
	// Errors through the alias name the alias.
	_, _, err = parseManager(t, []string{"baremetal_native", "tcp://h:1", "-wmi", "x", "--num-of-workers", "-2"}, nil, "")
	if err == nil || err.Error() != "--num-of-workers: must be -1 or more, got -2" {
		t.Errorf("err = %v", err)
	}
}

func TestWorkerManagerEnvAndLists(t *testing.T) {
	env := map[string]string{"AWS_ACCESS_KEY_ID": "AKIA-env", "AWS_SECRET_ACCESS_KEY": "secret-env"}
	c, res, err := parseManager(t, []string{"aws_raw_ecs", "tcp://127.0.0.1:6378", "--object-storage-address", "tcp://127.0.0.1:6379",
		"--worker-manager-id", "wm-ecs", "--ecs-subnets", "subnet-0abc123,subnet-0def456", "--aws-access-key-id", "AKIA-cli",
		"--instance-tags", "Team=grid,Env=dev=1"}, env, "")
	if err != nil {
		t.Fatal(err)
	}
	e := c.ecs
	if e.AccessKeyID != "AKIA-cli" || e.SecretAccessKey != "secret-env" {
		t.Errorf("credentials = %q / %q", e.AccessKeyID, e.SecretAccessKey)
	}
	if res.Source("aws-secret-access-key") != FromEnv || res.Source("aws-access-key-id") != FromCommandLine {
		t.Errorf("sources: %v %v", res.Source("aws-secret-access-key"), res.Source("aws-access-key-id"))
	}
	if want := []string{"subnet-0abc123", "subnet-0def456"}; !reflect.DeepEqual(e.Subnets, want) {
		t.Errorf("subnets = %q", e.Subnets)
	}
	if want := map[string]string{"Team": "grid", "Env": "dev=1"}; !maps.Equal(e.InstanceTags, want) {
		t.Errorf("tags = %v", e.InstanceTags)
	}
}

func TestSubcommandErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "missing subcommand, must be one of: baremetal_native, aws_raw_ecs, symphony"},
		{[]string{"baremetal"}, `unknown subcommand "baremetal", must be one of: baremetal_native, aws_raw_ecs, symphony`},
		{[]string{"symphonie", "tcp://h:1"}, `unknown subcommand "symphonie", must be one of: baremetal_native, aws_raw_ecs, symphony; did you mean "symphony"?`},
		{[]string{"--mode", "fixed", "baremetal_native"}, "--mode: options go after the subcommand"},
		{[]string{"baremetal_native", "tcp://h:1"}, `missing --worker-manager-id (give it on the command line or in [[worker_manager]] with type = "baremetal_native" of a --config file)`},
		{[]string{"symphony"}, "missing <scheduler_address>, --worker-manager-id, --service-name (give them on the command line"},
		{[]string{"baremetal_native", "tcp://h:1", "-wmi", "x", "--mode", "DYNAMIC"}, `--mode: "DYNAMIC" is not one of dynamic, fixed`},
		{[]string{"baremetal_native", "tcp://h:1", "-wmi", " "}, "--worker-manager-id: must not be empty"},
		{[]string{"baremetal_native", "tcp://h:1", "-wmi", "x", "-pwc", "gpu,,x"}, `--per-worker-capabilities: capability 2 of "gpu,,x" has an empty name`},
		{[]string{"baremetal_native", "tcp://h:1", "-wmi", "x", "-pwc", "gpu=many"}, `--per-worker-capabilities: capability "gpu": "many" is not an integer`},
		{[]string{"baremetal_native", "tcp://h:1", "-wmi", "x", "-pwc", "=2"}, `--per-worker-capabilities: capability "=2" has an empty name`},
		{[]string{"aws_raw_ecs", "tcp://h:1", "-wmi", "x", "--ecs-subnets", ","}, "--ecs-subnets: must name at least one item"},
		{[]string{"aws_raw_ecs", "tcp://h:1", "-wmi", "x", "--ecs-subnets", "s", "--instance-tags", "novalue"}, `--instance-tags: "novalue" is not KEY=VALUE`},
		{[]string{"baremetal_native", "tcp://h:1", "-wmi", "x", "-tm", "-1"}, `--trim-memory-threshold-bytes: "-1" is not a non-negative integer`},
	}
	for _, tt := range tests {
		_, _, err := parseManager(t, tt.args, nil, "")
		if err == nil {
			t.Errorf("%q: no error", tt.args)
			continue
		}
		if !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%q:\n got %q\nwant %q", tt.args, err, tt.want)
		}
		if !errors.As(err, new(UsageError)) {
			t.Errorf("%q: %v is not a UsageError", tt.args, err)
		}
	}
}

func TestSubcommandHelp(t *testing.T) {
	var out bytes.Buffer
	var c managerConfigs
	cmd := workerManagerCommand(&c)
	if _, err := cmd.Parse([]string{"-c", "x.toml", "--help"}, ParseOptions{Stdout: &out}); !errors.Is(err, ErrHelp) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"scaler_worker_manager <subcommand> [options] <scheduler_address>", "baremetal_native  local worker processes", "symphony", "aws_raw_ecs", `Run "scaler_worker_manager <subcommand> --help"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("parent help lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if _, err := cmd.Parse([]string{"symphony", "-h"}, ParseOptions{Stdout: &out}); !errors.Is(err, ErrHelp) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(out.String(), "scaler_worker_manager symphony [options] <scheduler_address>") ||
		!strings.Contains(out.String(), "--service-name, -sn STRING") {
		t.Errorf("subcommand help:\n%s", out.String())
	}
}

func TestDeclarationErrors(t *testing.T) {
	var a, b int
	var s string
	tests := []struct {
		name string
		cmd  *Command
		want string
	}{
		{"duplicate flag", &Command{Name: "x", Groups: []*Group{NewGroup("g", Int(&a, "aa", "a", 0, ""), Int(&b, "bb", "a", 0, ""))}}, "flag -a used by both aa and bb"},
		{"duplicate key", &Command{Name: "x", Groups: []*Group{NewGroup("g", Int(&a, "aa", "", 0, ""), Int(&b, "bb", "", 0, "").TOMLAliases("aa"))}}, "TOML key aa used by both aa and bb"},
		{"reserved name", &Command{Name: "x", Groups: []*Group{NewGroup("g", String(&s, "config", "", "", ""))}}, `flag name "config" of config is invalid or reserved`},
		{"reserved short", &Command{Name: "x", Groups: []*Group{NewGroup("g", String(&s, "host", "h", "", ""))}}, `flag name "h" of host is invalid or reserved`},
		{"bad name", &Command{Name: "x", Groups: []*Group{NewGroup("g", String(&s, "Host_Name", "", "", ""))}}, "must be lower-case kebab-case"},
		{"dangling alias", &Command{Name: "x", Groups: []*Group{NewGroup("g", Alias("n", "", "nothing"))}}, `alias n names "nothing"`},
		{"options on parent", &Command{Name: "x", Groups: []*Group{NewGroup("g")}, Subcommands: []*Command{{Name: "y"}}}, "has subcommands"},
		{"duplicate subcommand", &Command{Name: "x", Subcommands: []*Command{{Name: "y"}, {Name: "y"}}}, "subcommand y declared twice"},
		{"type key in subcommand", &Command{Name: "x", Section: "s", Subcommands: []*Command{{Name: "y", Groups: []*Group{NewGroup("g", String(&s, "type", "", "", ""))}}}}, `TOML key "type" selects the subcommand`},
	}
	for _, tt := range tests {
		err := tt.cmd.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
		if _, perr := tt.cmd.Parse(nil, ParseOptions{}); perr == nil || perr.Error() != err.Error() {
			t.Errorf("%s: Parse err = %v, want the Validate error", tt.name, perr)
		}
	}
}

func TestParseResetsBetweenRuns(t *testing.T) {
	var c schedulerConfig
	cmd := schedulerCommand(&c)
	if _, err := cmd.Parse([]string{"tcp://h:1", "-p", "-ct", "5", "-lp", "a.log"}, ParseOptions{Stdout: io.Discard}); err != nil {
		t.Fatal(err)
	}
	c.Logging.Paths[0] = "mutated" // must not leak into the default
	res, err := cmd.Parse([]string{"tcp://h:2"}, ParseOptions{Stdout: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if c.Protected || c.ClientTimeout != 60 || !reflect.DeepEqual(c.Logging.Paths, []string{"/dev/stdout"}) {
		t.Errorf("second parse kept state: %+v", c)
	}
	if res.IsSet("protected") || !res.IsSet("scheduler-address") {
		t.Errorf("IsSet wrong: protected=%v address=%v", res.IsSet("protected"), res.IsSet("scheduler-address"))
	}
	c.Logging.Paths[0] = "mutated"
	if _, err := cmd.Parse([]string{"tcp://h:2"}, ParseOptions{Stdout: io.Discard}); err != nil {
		t.Fatal(err)
	}
	if c.Logging.Paths[0] != "/dev/stdout" {
		t.Errorf("default list was aliased: %q", c.Logging.Paths)
	}
}
