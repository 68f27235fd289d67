package config

import (
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestTOMLValues(t *testing.T) {
	c, res, err := parseScheduler(t, []string{"-c", "s.toml"}, nil, `
[scheduler]
bind_address = "tcp://127.0.0.1:6378"           # the Python key, accepted as an alias
object-storage-address = "tcp://127.0.0.1:6379" # dashes and underscores are interchangeable
protected = true
load_balance_seconds = -1
policy_engine_type = "waterfall_v1"
policy_content = """
linux, 1, 8
gpu, 2, 4"""
logging_paths = ["/dev/stderr", "", "a.log"]
tls_cert = "c.pem"
tls_key = "k.pem"
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 0 {
		t.Errorf("warnings: %v", res.Warnings)
	}
	if c.Address.String() != "tcp://127.0.0.1:6378" || c.ObjectStorage.Port != 6379 || !c.Protected ||
		c.LoadBalanceSeconds != -1 || c.PolicyContent != "linux, 1, 8\ngpu, 2, 4" || c.TLS != (TLS{"c.pem", "k.pem"}) {
		t.Errorf("got %+v", c)
	}
	if !reflect.DeepEqual(c.Logging.Paths, []string{"/dev/stderr", "a.log"}) {
		t.Errorf("paths = %q", c.Logging.Paths)
	}
}

func TestTOMLUnknownKeyWarnings(t *testing.T) {
	tests := []struct {
		key, want string
	}{
		{"client_timeout_second", `s.toml: [scheduler] unknown key "client_timeout_second" ignored; did you mean "client_timeout_seconds"?`},
		{"level", `s.toml: [scheduler] unknown key "level" ignored; did you mean "logging_level"?`},
		{"montior-address", `s.toml: [scheduler] unknown key "montior-address" ignored; did you mean "monitor_address"?`},
		{"protect", `s.toml: [scheduler] unknown key "protect" ignored; did you mean "protected"?`},
		{"zzzzzzzzzz", `s.toml: [scheduler] unknown key "zzzzzzzzzz" ignored`},
	}
	for _, tt := range tests {
		_, res, err := parseScheduler(t, []string{"tcp://h:1", "-c", "s.toml"}, nil, "[scheduler]\n"+tt.key+" = 1\n")
		if err != nil {
			t.Fatalf("%s: %v", tt.key, err)
		}
		if len(res.Warnings) != 1 || res.Warnings[0].String() != tt.want {
			t.Errorf("%s: warnings = %v\nwant %q", tt.key, res.Warnings, tt.want)
		}
	}
}

func TestTOMLFileLevelWarnings(t *testing.T) {
	_, res, err := parseScheduler(t, []string{"tcp://h:1", "-c", "s.toml"}, nil, `
client_timeout_seconds = 3
[schedular]
protected = true
[gui]
monitor_address = "tcp://h:3"
`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range res.Warnings {
		got = append(got, w.String())
	}
	want := []string{
		`s.toml: key "client_timeout_seconds" outside any section ignored (options belong in a section such as [scheduler])`,
		`s.toml: unknown section [schedular] ignored; did you mean "scheduler"?`,
		`s.toml: no [scheduler] section but a [schedular] one; nothing was read from the file`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestTOMLErrors(t *testing.T) {
	tests := []struct {
		name, file, want string
		args             []string
	}{
		{name: "string for int", file: "[scheduler]\nclient_timeout_seconds = \"60\"", want: `s.toml: [scheduler] client_timeout_seconds: expected an integer, got string "60"`},
		{name: "float for int", file: "[scheduler]\nio_threads = 1.5", want: `s.toml: [scheduler] io_threads: expected an integer, got float 1.5`},
		{name: "int for bool", file: "[scheduler]\nprotected = 1", want: `s.toml: [scheduler] protected: expected true or false, got integer 1`},
		{name: "table for address", file: "[scheduler]\nmonitor_address = {host = \"h\"}", want: `s.toml: [scheduler] monitor_address: expected an address string, got a table`},
		{name: "int list item", file: "[scheduler]\nlogging_paths = [\"a\", 2]", want: `s.toml: [scheduler] logging_paths: item 2: expected a string, got integer 2`},
		{name: "date", file: "[scheduler]\npolicy_content = 2024-01-01", want: `s.toml: [scheduler] policy_content: expected a string or an array of lines, got a date-time`},
		{name: "bad enum", file: "[scheduler]\nevent_loop = \"asyncio\"", want: `s.toml: [scheduler] event_loop: "asyncio" is not one of builtin, uvloop`},
		{name: "bad address", file: "[scheduler]\nscheduler_address = \"127.0.0.1:6378\"", want: `s.toml: [scheduler] scheduler_address: invalid address "127.0.0.1:6378"`},
		{name: "failed check", file: "[scheduler]\nload_balance_seconds = 0", want: `s.toml: [scheduler] load_balance_seconds: must not be 0`},
		{name: "both spellings", file: "[scheduler]\nio-threads = 1\nio_threads = 2", want: `s.toml: [scheduler]: io-threads and io_threads set the same option`},
		{name: "key and alias", file: "[scheduler]\nbind_address = \"tcp://h:1\"\nscheduler_address = \"tcp://h:2\"", want: `s.toml: [scheduler]: bind_address and scheduler_address set the same option`},
		{name: "section not a table", file: "scheduler = 3", want: `s.toml: [scheduler] must be a table, got integer 3`},
		{name: "syntax", file: "[scheduler]\nprotected = \n", want: `s.toml:2: `},
		{name: "duplicate key", file: "[scheduler]\nprotected = true\nprotected = false\n", want: `s.toml:3: `},
		{name: "missing positional in file", args: []string{"-c", "s.toml"}, file: "[scheduler]\n", want: `missing <scheduler_address> (neither on the command line nor in [scheduler] of s.toml)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if args == nil {
				args = []string{"-c", "s.toml", "tcp://h:1"}
			}
			_, _, err := parseScheduler(t, args, nil, tt.file)
			checkOneLineError(t, err, tt.want)
			// Mistakes inside the file are not command-line usage errors.
			if isUsage := errors.As(err, new(UsageError)); isUsage != strings.HasPrefix(tt.want, "missing") {
				t.Errorf("usage error = %v", isUsage)
			}
		})
	}
}

const managersTOML = `
[[worker_manager]]
type = "baremetal_native"
scheduler_address = "tcp://127.0.0.1:6378"
worker_manager_id = "wm-native"
mode = "dynamic"
max_task_concurrency = 8
event_loop = "builtin"
io_threads = 2
per_worker_capabilities = {gpu = 2, linux = -1}

[[worker_manager]]
type = "aws_raw_ecs"
scheduler_address = "tcp://127.0.0.1:6378"
object_storage_address = "tcp://127.0.0.1:6379"
worker_manager_id = "wm-ecs"
ecs_subnets = "subnet-0abc123,subnet-0def456"
ecs_cluster = "scaler-cluster"
aws_region = "us-east-1"
instance_tags = {Team = "grid", Cost = 42}
`

func TestWorkerManagerSelection(t *testing.T) {
	c, res, err := parseManager(t, []string{"baremetal_native", "-c", "wm.toml", "--mode", "fixed"}, nil, managersTOML)
	if err != nil {
		t.Fatal(err)
	}
	n := c.native
	if n.Manager.ID != "wm-native" || n.Mode != "fixed" || n.Manager.MaxTaskConcurrency != 8 || n.Worker.IOThreads != 2 ||
		n.Manager.SchedulerAddress.Port != 6378 {
		t.Errorf("got %+v", n)
	}
	if !maps.Equal(n.Worker.Capabilities, map[string]int{"gpu": 2, "linux": -1}) {
		t.Errorf("capabilities = %v", n.Worker.Capabilities)
	}
	if res.Source("mode") != FromCommandLine || res.Source("worker-manager-id") != FromFile {
		t.Errorf("sources: %v %v", res.Source("mode"), res.Source("worker-manager-id"))
	}
	if len(res.Warnings) != 0 {
		t.Errorf("warnings: %v", res.Warnings)
	}

	// -c may precede the subcommand, as the Python entry point pre-scans argv.
	c, _, err = parseManager(t, []string{"-c", "wm.toml", "aws_raw_ecs"}, map[string]string{"AWS_SECRET_ACCESS_KEY": "s"}, managersTOML)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.ecs.Subnets, []string{"subnet-0abc123", "subnet-0def456"}) || c.ecs.SecretAccessKey != "s" ||
		!maps.Equal(c.ecs.InstanceTags, map[string]string{"Team": "grid", "Cost": "42"}) {
		t.Errorf("got %+v", c.ecs)
	}

	single := "[worker_manager]\ntype = \"symphony\"\nscheduler_address = \"tcp://h:1\"\nworker_manager_id = \"w\"\nservice_name = \"S\"\nservice_nme = 1\n"
	c, res, err = parseManager(t, []string{"symphony", "--config=wm.toml"}, nil, single)
	if err != nil {
		t.Fatal(err)
	}
	if c.symphony.ServiceName != "S" {
		t.Errorf("service name = %q", c.symphony.ServiceName)
	}
	want := `wm.toml: [[worker_manager]] #1 (type "symphony") unknown key "service_nme" ignored; did you mean "service_name"?`
	if len(res.Warnings) != 1 || res.Warnings[0].String() != want {
		t.Errorf("warnings = %v", res.Warnings)
	}
}

func TestWorkerManagerSelectionErrors(t *testing.T) {
	tests := []struct {
		name, file, sub, want string
	}{
		{"no match", managersTOML, "symphony", "no worker manager of type 'symphony' found in wm.toml (types present: baremetal_native, aws_raw_ecs)"},
		{"no entries", "[scheduler]\n", "symphony", "no worker manager of type 'symphony' found in wm.toml (it has no [[worker_manager]] entries)"},
		{"several", managersTOML + managersTOML, "aws_raw_ecs", "2 worker managers of type 'aws_raw_ecs' found in wm.toml, expected exactly one"},
		{"not tables", "worker_manager = [1, 2]", "symphony", "wm.toml: [[worker_manager]] #1 must be a table, got integer 1"},
		{"scalar", "worker_manager = \"x\"", "symphony", `wm.toml: worker_manager must be [[worker_manager]] tables, got string "x"`},
		{"bad value in entry", strings.Replace(managersTOML, "io_threads = 2", "io_threads = 0", 1), "baremetal_native",
			`wm.toml: [[worker_manager]] #1 (type "baremetal_native") io_threads: must be greater than 0, got 0`},
	}
	for _, tt := range tests {
		_, _, err := parseManager(t, []string{tt.sub, "-c", "wm.toml"}, nil, tt.file)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s:\n got %v\nwant %s", tt.name, err, tt.want)
		}
	}
}

const stackTOML = `
[scheduler]
scheduler_address = "tcp://127.0.0.1:6378"
monitor_address = "tcp://127.0.0.1:6380"
policy_engine_type = "simple"
policy_content = "allocate=even_load; scaling=no"
logging_level = "INFO"

[gui]
monitor_address = "tcp://127.0.0.1:6380"
gui_address = "127.0.0.1:50001"

[extra]
x = 1
` + managersTOML

func TestParseFileForLauncher(t *testing.T) {
	f, err := ParseFile("stack.toml", []byte(stackTOML))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Sections(); !slices.Equal(got, []string{"scheduler", "worker_manager", "gui"}) {
		t.Errorf("sections = %q", got)
	}
	if len(f.Warnings) != 1 || f.Warnings[0].String() != "stack.toml: unknown section [extra] ignored" {
		t.Errorf("warnings = %v", f.Warnings)
	}
	var sc schedulerConfig
	res, err := schedulerCommand(&sc).ParseTable(f.Scheduler, ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sc.Address.Port != 6378 || sc.PolicyContent != "allocate=even_load; scaling=no" || res.ConfigFile != "stack.toml" {
		t.Errorf("scheduler %+v", sc)
	}
	var mc managerConfigs
	wm := workerManagerCommand(&mc)
	var types []string
	for _, e := range f.WorkerManagers {
		res, err := wm.ParseTable(e, ParseOptions{LookupEnv: envMap(map[string]string{"AWS_ACCESS_KEY_ID": "env-key"})})
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, res.Command.Name)
	}
	if !slices.Equal(types, []string{"baremetal_native", "aws_raw_ecs"}) {
		t.Errorf("types = %q", types)
	}
	if mc.native.Manager.ID != "wm-native" || mc.ecs.Manager.ID != "wm-ecs" || mc.ecs.AccessKeyID != "env-key" {
		t.Errorf("managers: %+v / %+v", mc.native.Manager, mc.ecs)
	}
}

func TestParseTableErrors(t *testing.T) {
	var mc managerConfigs
	wm := workerManagerCommand(&mc)
	_, err := wm.ParseTable(&Table{File: "f.toml", Section: "worker_manager", Index: 3, Type: "oci_raw", Values: map[string]any{"type": "oci_raw"}}, ParseOptions{})
	if want := `f.toml: [[worker_manager]] #3 (type "oci_raw"): unknown type "oci_raw", must be one of: baremetal_native, aws_raw_ecs, symphony`; err == nil || err.Error() != want {
		t.Errorf("err = %v", err)
	}
	_, err = wm.ParseTable(&Table{File: "f.toml", Section: "worker_manager", Index: 1, Type: "symphony", Values: map[string]any{"type": "symphony"}}, ParseOptions{})
	if want := `f.toml: [[worker_manager]] #1 (type "symphony"): missing scheduler_address, worker_manager_id, service_name`; err == nil || err.Error() != want {
		t.Errorf("err = %v", err)
	}
	var sc schedulerConfig
	_, err = schedulerCommand(&sc).ParseTable(&Table{File: "f.toml", Section: "scheduler", Values: map[string]any{
		"scheduler_address": "tcp://h:1", "tls_cert": "c.pem"}}, ParseOptions{})
	if err == nil || err.Error() != ErrTLSPair.Error() || errors.As(err, new(UsageError)) {
		t.Errorf("err = %v", err)
	}
}

func TestParseFileErrors(t *testing.T) {
	tests := []struct {
		name, file, want string
	}{
		{"empty", "", "f.toml: " + ErrNoSections.Error()},
		{"only unknown", "[schedular]\nx=1", "f.toml: " + ErrNoSections.Error()},
		{"no type", "[[worker_manager]]\nscheduler_address = \"tcp://h:1\"", `f.toml: [[worker_manager]] #1 has no "type" key`},
		{"type not a string", "[[worker_manager]]\ntype = 3", `f.toml: [[worker_manager]] #1: "type" must be a non-empty string, got integer 3`},
		{"gui not a table", "gui = \"x\"\n[scheduler]\n", `f.toml: [gui] must be a table, got string "x"`},
		{"syntax", "[scheduler\n", "f.toml:2: expected '.' or ']' to end table name"},
	}
	for _, tt := range tests {
		_, err := ParseFile("f.toml", []byte(tt.file))
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want prefix %q", tt.name, err, tt.want)
		}
	}
	if _, err := ParseFile("f.toml", nil); !errors.Is(err, ErrNoSections) {
		t.Errorf("err = %v, want ErrNoSections", err)
	}
	if _, err := LoadFile("testdata/does-not-exist.toml"); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("LoadFile: err = %v", err)
	}
	f, err := LoadFile("testdata/golden/stack.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Sections()) == 0 {
		t.Error("no sections read from testdata/golden/stack.toml")
	}
	// A [top] section alone is a recognised file; the launcher decides what to do with it.
	f, err = ParseFile("f.toml", []byte("[top]\nmonitor_address = \"tcp://h:1\"\n[object_storage_server]\n"))
	if err != nil || !slices.Equal(f.Sections(), []string{"object_storage_server", "top"}) {
		t.Errorf("sections = %v, err = %v", f.Sections(), err)
	}
}
