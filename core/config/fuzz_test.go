package config

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary TOML text and command lines (one argument per line) through every
// entry point that reads them: Parse with --config for a plain command and for subcommands,
// and ParseFile plus ParseTable as the launcher uses them. Nothing may panic, and every error
// and warning must stay on one line, as DESIGN.md asks of user-facing errors.
func FuzzLoad(f *testing.F) {
	f.Add(schedulerTOML, "tcp://127.0.0.1:6378\n-p\n--client-timeout-seconds=5")
	f.Add(managersTOML, "baremetal_native\n-n\n3\n--mode\nfixed")
	f.Add(stackTOML, "-c\nx.toml\naws_raw_ecs\n--ecs-subnets\na,,b")
	f.Add("[scheduler]\nbind_address = 1\n[[worker_manager]]\ntype = 2", "--\n-h")
	f.Add("worker_manager = [1, {type = \"symphony\"}]\n", "symphony\n-pwc\ngpu=x,=1")
	f.Add("[gui]\n\"a\\nb\" = 1\n[\"x\\ny\"]\n", "---x\n-=\n--bogus\n\n-")
	f.Fuzz(func(t *testing.T, tomlText, argText string) {
		var args []string
		if argText != "" {
			args = strings.Split(argText, "\n")
		}
		opts := ParseOptions{
			LookupEnv: envMap(map[string]string{NetworkBackendEnv: "zmq", "AWS_ACCESS_KEY_ID": "k"}),
			Stdout:    io.Discard,
			ReadFile:  func(string) ([]byte, error) { return []byte(tomlText), nil },
		}
		check := func(what string, res *Result, err error) {
			if err != nil {
				if strings.ContainsAny(err.Error(), "\n\r") {
					t.Errorf("%s: multi-line error %q", what, err)
				}
				return
			}
			for _, w := range res.Warnings {
				if strings.ContainsAny(w.String(), "\n\r") {
					t.Errorf("%s: multi-line warning %q", what, w.String())
				}
			}
			_ = res.Settings()
		}
		withConfig := append([]string{"-c", "f.toml"}, args...)
		res, err := schedulerCommand(&schedulerConfig{}).Parse(withConfig, opts)
		check("scheduler", res, err)
		res, err = workerManagerCommand(&managerConfigs{}).Parse(args, opts)
		check("worker manager", res, err)
		for _, sub := range []string{"baremetal_native", "aws_raw_ecs", "symphony"} {
			res, err = workerManagerCommand(&managerConfigs{}).Parse(append([]string{sub, "-c", "f.toml"}, args...), opts)
			check(sub, res, err)
		}

		file, err := ParseFile("f.toml", []byte(tomlText))
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Errorf("ParseFile: multi-line error %q", err)
			}
			if len(tomlText) == 0 && !errors.Is(err, ErrNoSections) {
				t.Errorf("empty file: %v", err)
			}
			return
		}
		for _, w := range file.Warnings {
			if strings.ContainsAny(w.String(), "\n\r") {
				t.Errorf("ParseFile: multi-line warning %q", w.String())
			}
		}
		if file.Scheduler != nil {
			res, err := schedulerCommand(&schedulerConfig{}).ParseTable(file.Scheduler, ParseOptions{})
			check("launcher scheduler", res, err)
		}
		if file.GUI != nil {
			res, err := guiCommand(&guiConfig{}).ParseTable(file.GUI, ParseOptions{})
			check("launcher gui", res, err)
		}
		wm := workerManagerCommand(&managerConfigs{})
		for _, e := range file.WorkerManagers {
			res, err := wm.ParseTable(e, ParseOptions{})
			check("launcher worker manager", res, err)
		}
	})
}

// FuzzLogFileConfig checks that the logging fileConfig reader never panics.
func FuzzLogFileConfig(f *testing.F) {
	f.Add("[loggers]\nkeys=root\n[handlers]\nkeys=h\n[logger_root]\nlevel=INFO\nhandlers=h\n[handler_h]\nclass=StreamHandler\nargs=(sys.stdout,)\n")
	f.Add("[loggers]\nkeys=root\n[handlers]\nkeys=h\n[logger_root]\nhandlers=h\n[handler_h]\nclass=handlers.TimedRotatingFileHandler\nargs=('%(d)s/x', 'W1')\nkwargs={'utc': True}\n[DEFAULT]\nd=/tmp\n")
	f.Add("[a]\nk = (((('x',),),),)\n  continued\n")
	f.Fuzz(func(t *testing.T, text string) {
		cfg, err := parseLogFileConfig(text)
		if err == nil && cfg == nil {
			t.Fatal("nil config without error")
		}
		_, _ = parsePyLiteral(text)
	})
}
