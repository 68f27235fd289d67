package config

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// goldenCommands builds fresh commands for the golden cases, keyed by program name.
func goldenCommands() map[string]*Command {
	return map[string]*Command{
		"scaler_scheduler":             schedulerCommand(&schedulerConfig{}),
		"scaler_worker_manager":        workerManagerCommand(&managerConfigs{}),
		"scaler_gui":                   guiCommand(&guiConfig{}),
		"scaler_top":                   topCommand(&topConfig{}),
		"scaler_object_storage_server": objectStorageCommand(&objectStorageConfig{}),
	}
}

// TestGolden turns each testdata/golden/NAME.toml into the effective options and compares them
// with NAME.golden. A first line "# args: PROGRAM ARGS..." runs that command line with
// {file} replaced by the TOML file (and "# env: K=V ..." sets the environment); otherwise the
// file is read the way the launcher reads it, section by section. Run with -update to
// rewrite the expectations after a deliberate change.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/golden/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) < 5 {
		t.Fatalf("only %d golden inputs found", len(inputs))
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".toml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got := goldenRun(in, data)
			want := strings.TrimSuffix(in, ".toml") + ".golden"
			if *update {
				if err := os.WriteFile(want, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			expected, err := os.ReadFile(want)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
			}
			if got != string(expected) {
				t.Errorf("effective options differ from %s:\n--- got\n%s\n--- want\n%s", want, got, expected)
			}
		})
	}
}

func goldenRun(path string, data []byte) string {
	var out bytes.Buffer
	var args []string
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# args:"); ok {
			args = strings.Fields(strings.ReplaceAll(rest, "{file}", path))
		} else if rest, ok := strings.CutPrefix(line, "# env:"); ok {
			for _, kv := range strings.Fields(rest) {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
		} else {
			break
		}
	}
	cmds := goldenCommands()
	writeResult := func(header string, res *Result, err error) {
		fmt.Fprintln(&out, header)
		if err != nil {
			kind := "error"
			if errors.As(err, new(UsageError)) {
				kind = "usage error"
			}
			fmt.Fprintf(&out, "%s: %v\n", kind, err)
			return
		}
		for _, w := range res.Warnings {
			fmt.Fprintf(&out, "warning: %s\n", w)
		}
		for _, s := range res.Settings() {
			fmt.Fprintln(&out, s)
		}
	}
	if args != nil {
		res, err := cmds[args[0]].Parse(args[1:], ParseOptions{LookupEnv: envMap(env)})
		header := "$ " + strings.Join(args, " ")
		if err == nil && res.Command.parent != nil {
			header += "  => " + res.Command.fullName()
		}
		writeResult(header, res, err)
		return out.String()
	}
	f, err := ParseFile(path, data)
	if err != nil {
		fmt.Fprintf(&out, "error: %v\n", err)
		return out.String()
	}
	for _, w := range f.Warnings {
		fmt.Fprintf(&out, "warning: %s\n", w)
	}
	fmt.Fprintf(&out, "sections: %s\n", strings.Join(f.Sections(), ", "))
	tables := []struct {
		t   *Table
		cmd string
	}{
		{f.ObjectStorageServer, "scaler_object_storage_server"},
		{f.Scheduler, "scaler_scheduler"},
	}
	for _, wm := range f.WorkerManagers {
		tables = append(tables, struct {
			t   *Table
			cmd string
		}{wm, "scaler_worker_manager"})
	}
	tables = append(tables, []struct {
		t   *Table
		cmd string
	}{{f.GUI, "scaler_gui"}, {f.Top, "scaler_top"}}...)
	for _, tc := range tables {
		if tc.t == nil {
			continue
		}
		res, err := cmds[tc.cmd].ParseTable(tc.t, ParseOptions{})
		fmt.Fprintln(&out)
		writeResult(tc.t.Label(), res, err)
	}
	return out.String()
}
