package config

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestNewLoggerSinksAndLevels(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "scheduler.log")
	var stdout, stderr bytes.Buffer
	logger, closeLogs, err := NewLogger(Logging{Level: "WARNING", Paths: []string{"-", "/dev/stderr", file}}, "scheduler",
		LoggerOptions{Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		t.Fatal(err)
	}
	logger.Info("hidden")
	logger.Warn("shown", "k", 1)
	logger.Log(t.Context(), LevelCritical, "fatal-ish")
	if err := closeLogs(); err != nil {
		t.Fatal(err)
	}
	logger.Warn("after close") // must not panic; the file sink just fails
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]string{"stdout": stdout.String(), "stderr": stderr.String(), "file": string(data)} {
		if strings.Contains(got, "hidden") {
			t.Errorf("%s: INFO record passed a WARNING level: %q", name, got)
		}
		if !strings.Contains(got, "level=WARNING msg=shown component=scheduler k=1") {
			t.Errorf("%s: missing warning record: %q", name, got)
		}
		if !strings.Contains(got, "level=CRITICAL msg=fatal-ish") {
			t.Errorf("%s: missing critical record: %q", name, got)
		}
	}
	if strings.Contains(string(data), "after close") {
		t.Errorf("record written after close")
	}
}

func TestNewLoggerLevelFiltering(t *testing.T) {
	for _, tt := range []struct {
		level string
		want  []string
	}{
		{"DEBUG", []string{"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}},
		{"INFO", []string{"INFO", "WARNING", "ERROR", "CRITICAL"}},
		{"ERROR", []string{"ERROR", "CRITICAL"}},
		{"CRITICAL", []string{"CRITICAL"}},
	} {
		var out bytes.Buffer
		logger, closeLogs, err := NewLogger(Logging{Level: tt.level, Paths: []string{"/dev/stdout"}}, "", LoggerOptions{Stdout: &out})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError, LevelCritical} {
			logger.Log(t.Context(), l, "m")
		}
		closeLogs()
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			_, rest, _ := strings.Cut(line, "level=")
			lvl, _, _ := strings.Cut(rest, " ")
			got = append(got, lvl)
			if strings.Contains(line, "component=") {
				t.Errorf("empty component still tagged: %q", line)
			}
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: levels %q, want %q", tt.level, got, tt.want)
		}
	}
}

func TestNewLoggerErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(bad, []byte("[loggers]\nkeys=root\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		l    Logging
		want string
	}{
		{Logging{Level: "VERBOSE", Paths: []string{"-"}}, `logging level: unknown level "VERBOSE"`},
		{Logging{Level: "INFO", Paths: []string{filepath.Join(dir, "missing", "x.log")}}, "log file: open " + filepath.Join(dir, "missing", "x.log")},
		{Logging{ConfigFile: filepath.Join(dir, "nope.conf")}, "logging config file: open " + filepath.Join(dir, "nope.conf")},
		{Logging{ConfigFile: bad}, "logging config file " + bad + ": missing section [logger_root]"},
	}
	for _, tt := range tests {
		_, _, err := NewLogger(tt.l, "x", LoggerOptions{})
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: err = %v, want prefix %q", tt.l, err, tt.want)
		}
	}
}

func TestNewLoggerFromConfigFile(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "app.log")
	conf := filepath.Join(dir, "logging.conf")
	text := `
[DEFAULT]
logdir = ` + dir + `

[loggers]
keys = root, scaler

[handlers]
keys = console, file, quiet

[formatters]
keys = plain

[logger_root]
level = DEBUG
handlers = console, file, quiet

[logger_scaler]
level = INFO
handlers = file
qualname = scaler
propagate = 0

[handler_console]
class = StreamHandler
level = ERROR
formatter = plain
args = (sys.stdout,)

[handler_file]
class = logging.handlers.TimedRotatingFileHandler
level = DEBUG
args = ('%(logdir)s/app.log', 'midnight')
kwargs = {'backupCount': 3, 'encoding': 'utf-8'}

[handler_quiet]
class = NullHandler

[formatter_plain]
format = %(asctime)s %(levelname)s %(message)s
datefmt = %Y-%m-%d
`
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	// The config file overrides the level and paths given alongside it.
	logger, closeLogs, err := NewLogger(Logging{Level: "CRITICAL", Paths: []string{"/dev/stderr"}, ConfigFile: conf}, "gui", LoggerOptions{Stdout: &stdout})
	if err != nil {
		t.Fatal(err)
	}
	logger.Debug("debug-record")
	logger.Error("error-record")
	if err := closeLogs(); err != nil {
		t.Fatal(err)
	}
	if got := stdout.String(); strings.Contains(got, "debug-record") || !strings.Contains(got, "level=ERROR msg=error-record component=gui") {
		t.Errorf("console handler output: %q", got)
	}
	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "level=DEBUG msg=debug-record") || !strings.Contains(string(data), "msg=error-record") {
		t.Errorf("file handler output: %q", data)
	}
}

func TestParseLogFileConfig(t *testing.T) {
	const head = "[loggers]\nkeys=root\n[handlers]\nkeys=h\n[logger_root]\nhandlers=h\n"
	tests := []struct {
		name string
		text string
		want logFileConfig
		err  string
	}{
		{
			name: "stdout stream, default root level",
			text: head + "[handler_h]\nclass=StreamHandler\nargs=(sys.stdout,)\n",
			want: logFileConfig{rootLevel: slog.LevelWarn, handlers: []handlerSpec{{name: "h", stream: "stdout", level: levelNotSet}}},
		},
		{
			name: "stream defaults to stderr",
			text: head + "[handler_h]\nclass=logging.StreamHandler\nlevel=INFO\n",
			want: logFileConfig{rootLevel: slog.LevelWarn, handlers: []handlerSpec{{name: "h", stream: "stderr", level: slog.LevelInfo}}},
		},
		{
			name: "file handler, write mode, continuation line",
			text: "[loggers]\nkeys=root\n[handlers]\nkeys=\n  h\n[logger_root]\nlevel: NOTSET\nhandlers=h\n[handler_h]\nclass=FileHandler\nargs=('x%%.log', 'w')\n",
			want: logFileConfig{rootLevel: levelNotSet, handlers: []handlerSpec{{name: "h", filename: "x%.log", truncate: true, level: levelNotSet}}},
		},
		{
			name: "rotating by size with kwargs",
			text: head + "[handler_h]\nclass=handlers.RotatingFileHandler\nargs=('x.log',)\nkwargs={'maxBytes': 1024, \"backupCount\": 2, 'delay': True}\n",
			want: logFileConfig{rootLevel: slog.LevelWarn, handlers: []handlerSpec{{name: "h", filename: "x.log", delay: true, rot: rotation{maxBytes: 1024, backups: 2}, level: levelNotSet}}},
		},
		{
			name: "timed rotation",
			text: head + "[handler_h]\nclass=handlers.TimedRotatingFileHandler\nargs=('x.log', 'W6', 2, 5, None, False, True)\n",
			want: logFileConfig{rootLevel: slog.LevelWarn, handlers: []handlerSpec{{name: "h", filename: "x.log", rot: rotation{when: "W6", interval: 2, backups: 5, utc: true}, level: levelNotSet}}},
		},
		{
			name: "percent escape and root without handlers",
			text: "[loggers]\nkeys=root\n[handlers]\nkeys=\n[logger_root]\nhandlers=\n[handler_unused]\nclass=FileHandler\nargs=('100%%.log',)\n",
			want: logFileConfig{rootLevel: slog.LevelWarn},
		},
		{name: "empty file", text: "", err: "missing section [loggers]"},
		{name: "no root", text: "[loggers]\nkeys=app\n[logger_app]\nhandlers=\n", err: "[loggers] keys must include root"},
		{name: "missing logger section", text: "[loggers]\nkeys=root,app\n", err: `[loggers] lists "app" but there is no [logger_app] section`},
		{name: "no handlers key", text: "[loggers]\nkeys=root\n[logger_root]\nlevel=INFO\n", err: `[logger_root] has no "handlers" key`},
		{name: "undeclared handler", text: "[loggers]\nkeys=root\n[handlers]\nkeys=\n[logger_root]\nhandlers=h\n", err: `[logger_root] uses handler "h", which [handlers] does not list`},
		{name: "missing handler section", text: head, err: "missing section [handler_h]"},
		{name: "unsupported class", text: head + "[handler_h]\nclass=handlers.SysLogHandler\n", err: `[handler_h] class "handlers.SysLogHandler" is not supported`},
		{name: "no class", text: head + "[handler_h]\nargs=()\n", err: `[handler_h] has no "class" key`},
		{name: "bad args", text: head + "[handler_h]\nclass=FileHandler\nargs=('x.log'\n", err: "[handler_h] args ('x.log': missing ')'"},
		{name: "code in args", text: head + "[handler_h]\nclass=FileHandler\nargs=(open('x'),)\n", err: "[handler_h] args (open('x'),): calls such as open(...) are not supported"},
		{name: "too many args", text: head + "[handler_h]\nclass=StreamHandler\nargs=(sys.stdout, 1)\n", err: "[handler_h] args (sys.stdout, 1): StreamHandler takes at most 1 arguments"},
		{name: "unknown kwarg", text: head + "[handler_h]\nclass=FileHandler\nargs=('x',)\nkwargs={'size': 1}\n", err: `[handler_h] kwargs: FileHandler has no parameter "size"`},
		{name: "bad stream", text: head + "[handler_h]\nclass=StreamHandler\nargs=(sys.stdin,)\n", err: "[handler_h] stream must be sys.stdout or sys.stderr, got sys.stdin"},
		{name: "bad level", text: head + "[handler_h]\nclass=StreamHandler\nlevel=LOUD\n", err: `[handler_h] level: unknown level "LOUD"`},
		{name: "bad root level", text: "[loggers]\nkeys=root\n[handlers]\nkeys=\n[logger_root]\nlevel=10\nhandlers=\n", err: `[logger_root] level: unknown level "10"`},
		{name: "bad when", text: head + "[handler_h]\nclass=handlers.TimedRotatingFileHandler\nargs=('x', 'fortnight')\n", err: `[handler_h] when "fortnight" is not one of`},
		{name: "atTime", text: head + "[handler_h]\nclass=handlers.TimedRotatingFileHandler\nargs=('x',)\nkwargs={'atTime': 3}\n", err: "[handler_h] atTime is not supported"},
		{name: "encoding", text: head + "[handler_h]\nclass=FileHandler\nargs=('x', 'a', 'latin-1')\n", err: `[handler_h] encoding "latin-1" is not supported`},
		{name: "mode", text: head + "[handler_h]\nclass=FileHandler\nargs=('x', 'r')\n", err: `[handler_h] mode "r" is not supported`},
		{name: "no file name", text: head + "[handler_h]\nclass=FileHandler\n", err: "[handler_h] args must start with a file name"},
		{name: "bad interpolation", text: head + "[handler_h]\nclass=FileHandler\nargs=('%(dir)s/x',)\n", err: `[handler_h] args: %(dir)s refers to unknown key "dir"`},
		{name: "lone percent", text: head + "[handler_h]\nclass=FileHandler\nargs=('100%.log',)\n", err: `[handler_h] args: "('100%.log',)": '%' must be followed by '%' or '(name)s'`},
		{name: "key before section", text: "keys=root\n", err: `line 1: "keys=root" comes before any [section]`},
		{name: "no equals", text: "[loggers]\nkeys\n", err: `line 2: expected key = value, got "keys"`},
		{name: "duplicate section", text: "[loggers]\nkeys=root\n[loggers]\n", err: "line 3: section [loggers] appears twice"},
		{name: "duplicate key", text: "[loggers]\nkeys=root\nKEYS=root\n", err: `line 3: key "keys" appears twice in its section`},
		{name: "unclosed header", text: "[loggers\n", err: "line 1: section header without ']'"},
	}
	for _, tt := range tests {
		got, err := parseLogFileConfig(tt.text)
		if tt.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
				t.Errorf("%s: err = %v, want prefix %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !reflect.DeepEqual(*got, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, *got, tt.want)
		}
	}
}

func TestParseLevel(t *testing.T) {
	for name, want := range map[string]slog.Level{"CRITICAL": LevelCritical, "ERROR": slog.LevelError, "WARNING": slog.LevelWarn, "INFO": slog.LevelInfo, "DEBUG": slog.LevelDebug} {
		got, err := ParseLevel(name)
		if err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v", name, got, err)
		}
		if levelName(got) != name {
			t.Errorf("levelName(%v) = %q, want %q", got, levelName(got), name)
		}
	}
	for _, bad := range []string{"info", "NOTSET", ""} {
		if _, err := ParseLevel(bad); err == nil {
			t.Errorf("ParseLevel(%q) accepted", bad)
		}
	}
}

func TestLogWarnings(t *testing.T) {
	var out bytes.Buffer
	logger, closeLogs, err := NewLogger(Logging{Level: "INFO", Paths: []string{"-"}}, "top", LoggerOptions{Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	defer closeLogs()
	LogWarnings(logger, []Warning{{File: "f.toml", Section: "[top]", Key: "timeot", Message: `unknown key "timeot" ignored`, Suggestion: "timeout"}})
	want := `level=WARNING msg="f.toml: [top] unknown key \"timeot\" ignored; did you mean \"timeout\"?" component=top`
	if !strings.Contains(out.String(), want) {
		t.Errorf("got %q\nwant %q", out.String(), want)
	}
}

func TestLoggingGroupDefaults(t *testing.T) {
	var l Logging
	cmd := &Command{Name: "x", Groups: []*Group{LoggingGroup(&l)}}
	if _, err := cmd.Parse(nil, ParseOptions{}); err != nil {
		t.Fatal(err)
	}
	if l.Level != "INFO" || !reflect.DeepEqual(l.Paths, []string{"/dev/stdout"}) || l.ConfigFile != "" {
		t.Errorf("defaults: %+v", l)
	}
	var out bytes.Buffer
	logger, closeLogs, err := NewLogger(l, "x", LoggerOptions{Stdout: &out, Now: func() time.Time { return time.Unix(0, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	defer closeLogs()
	logger.Info("hello")
	if !strings.Contains(out.String(), "level=INFO msg=hello component=x") {
		t.Errorf("default logger wrote %q", out.String())
	}
}
