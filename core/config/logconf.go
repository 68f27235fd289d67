package config

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
)

// iniFile is a configparser-style INI file: sections of key = value (or key: value), keys
// lower-cased, "#" and ";" comment lines, indented continuation lines, and a [DEFAULT] section
// whose keys every section inherits.
type iniFile struct {
	sections map[string]map[string]string
	defaults map[string]string
}

func parseINI(data string) (*iniFile, error) {
	f := &iniFile{sections: map[string]map[string]string{}, defaults: map[string]string{}}
	var cur map[string]string
	var lastKey string
	for n, line := range strings.Split(strings.ReplaceAll(data, "\r\n", "\n"), "\n") {
		lineNo := n + 1
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || trimmed[0] == '#' || trimmed[0] == ';' {
			continue
		}
		indented := line[0] == ' ' || line[0] == '\t'
		if indented && lastKey != "" && cur != nil {
			cur[lastKey] += "\n" + trimmed
			continue
		}
		if trimmed[0] == '[' {
			end := strings.IndexByte(trimmed, ']')
			if end < 0 {
				return nil, fmt.Errorf("line %d: section header without ']'", lineNo)
			}
			name := trimmed[1:end]
			if name == "DEFAULT" {
				cur = f.defaults
			} else {
				if _, dup := f.sections[name]; dup {
					return nil, fmt.Errorf("line %d: section [%s] appears twice", lineNo, name)
				}
				cur = map[string]string{}
				f.sections[name] = cur
			}
			lastKey = ""
			continue
		}
		if cur == nil {
			return nil, fmt.Errorf("line %d: %q comes before any [section]", lineNo, trimmed)
		}
		i := strings.IndexAny(trimmed, "=:")
		if i <= 0 {
			return nil, fmt.Errorf("line %d: expected key = value, got %q", lineNo, trimmed)
		}
		key := strings.ToLower(strings.TrimSpace(trimmed[:i]))
		if _, dup := cur[key]; dup {
			return nil, fmt.Errorf("line %d: key %q appears twice in its section", lineNo, key)
		}
		cur[key] = strings.TrimSpace(trimmed[i+1:])
		lastKey = key
	}
	return f, nil
}

var (
	interpolation = regexp.MustCompile(`%(%|\(([^)]*)\)s)`)
	whenPattern   = regexp.MustCompile(`^(S|M|H|D|MIDNIGHT|W[0-6])$`)
)

// get returns a key of a section with configparser's basic interpolation: %(name)s refers to
// another key of the section (or DEFAULT) and %% is a percent sign. fileConfig reads handler
// settings interpolated, so file names like "%(logdir)s/x.log" work.
func (f *iniFile) get(section, key string) (string, bool, error) {
	sec, ok := f.sections[section]
	if !ok {
		return "", false, nil
	}
	raw, ok := sec[key]
	if !ok {
		raw, ok = f.defaults[key]
	}
	if !ok {
		return "", false, nil
	}
	v, err := f.interpolate(section, raw, 0)
	return v, true, err
}

func (f *iniFile) interpolate(section, v string, depth int) (string, error) {
	if !strings.Contains(v, "%") {
		return v, nil
	}
	if depth > 10 {
		return "", errors.New("interpolation nested too deeply")
	}
	var firstErr error
	out := interpolation.ReplaceAllStringFunc(v, func(m string) string {
		if m == "%%" {
			return "%"
		}
		name := strings.ToLower(m[2 : len(m)-2])
		ref, ok := f.sections[section][name]
		if !ok {
			ref, ok = f.defaults[name]
		}
		if !ok {
			if firstErr == nil {
				firstErr = fmt.Errorf("%s refers to unknown key %q", m, name)
			}
			return ""
		}
		r, err := f.interpolate(section, ref, depth+1)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return r
	})
	if firstErr != nil {
		return "", firstErr
	}
	// A "%" left over is not a valid reference; configparser rejects it too.
	if strings.Contains(interpolation.ReplaceAllString(v, ""), "%") {
		return "", fmt.Errorf("%q: '%%' must be followed by '%%' or '(name)s'", v)
	}
	return out, nil
}

// handlerSpec is one handler of a logging fileConfig file, reduced to what we can build.
type handlerSpec struct {
	name     string
	stream   string // "stdout" or "stderr" for StreamHandler; "" for file handlers
	null     bool   // NullHandler
	filename string
	truncate bool // mode "w"
	delay    bool
	rot      rotation
	level    slog.Level
}

// logFileConfig is the part of a fileConfig file that shapes our single logger: the root
// logger's level and handlers.
type logFileConfig struct {
	rootLevel slog.Level
	handlers  []handlerSpec
}

// pythonLevel maps Python level names as fileConfig accepts them.
func pythonLevel(name string) (slog.Level, error) {
	switch strings.TrimSpace(name) {
	case "CRITICAL", "FATAL":
		return LevelCritical, nil
	case "ERROR":
		return slog.LevelError, nil
	case "WARNING", "WARN":
		return slog.LevelWarn, nil
	case "INFO":
		return slog.LevelInfo, nil
	case "DEBUG":
		return slog.LevelDebug, nil
	case "NOTSET":
		return levelNotSet, nil
	}
	return 0, fmt.Errorf("unknown level %q (expected CRITICAL, ERROR, WARNING, INFO, DEBUG or NOTSET)", name)
}

// parseLogFileConfig interprets a logging.config.fileConfig file: [loggers] keys (must include
// root), [logger_root] level and handlers, [handlers] keys, and for each [handler_NAME] the
// class, args, kwargs and level. Formatters are accepted and ignored: every record is written
// by slog's text handler. Loggers other than root are checked but have no effect, because
// the Go program logs through one logger.
func parseLogFileConfig(data string) (*logFileConfig, error) {
	ini, err := parseINI(data)
	if err != nil {
		return nil, err
	}
	must := func(section, key string) (string, error) {
		v, ok, err := ini.get(section, key)
		if err != nil {
			return "", fmt.Errorf("[%s] %s: %w", section, key, err)
		}
		if !ok {
			if _, has := ini.sections[section]; !has {
				return "", fmt.Errorf("missing section [%s]", section)
			}
			return "", fmt.Errorf("[%s] has no %q key", section, key)
		}
		return v, nil
	}
	loggers, err := must("loggers", "keys")
	if err != nil {
		return nil, err
	}
	names := splitList(loggers)
	hasRoot := false
	for _, n := range names {
		if n == "root" {
			hasRoot = true
		} else if _, ok := ini.sections["logger_"+n]; !ok {
			return nil, fmt.Errorf("[loggers] lists %q but there is no [logger_%s] section", n, n)
		}
	}
	if !hasRoot {
		return nil, errors.New("[loggers] keys must include root")
	}
	rootHandlers, err := must("logger_root", "handlers")
	if err != nil {
		return nil, err
	}
	cfg := &logFileConfig{rootLevel: slog.LevelWarn} // Python's root logger default
	if lv, ok, err := ini.get("logger_root", "level"); err != nil {
		return nil, fmt.Errorf("[logger_root] level: %w", err)
	} else if ok {
		if cfg.rootLevel, err = pythonLevel(lv); err != nil {
			return nil, fmt.Errorf("[logger_root] level: %w", err)
		}
	}
	handlerList, err := must("handlers", "keys")
	if err != nil {
		return nil, err
	}
	declared := map[string]bool{}
	for _, h := range splitList(handlerList) {
		declared[h] = true
	}
	for _, n := range names {
		if n == "root" {
			continue
		}
		hs, _, err := ini.get("logger_"+n, "handlers")
		if err != nil {
			return nil, fmt.Errorf("[logger_%s] handlers: %w", n, err)
		}
		for _, h := range splitList(hs) {
			if !declared[h] {
				return nil, fmt.Errorf("[logger_%s] uses handler %q, which [handlers] does not list", n, h)
			}
		}
	}
	for _, h := range splitList(rootHandlers) {
		if !declared[h] {
			return nil, fmt.Errorf("[logger_root] uses handler %q, which [handlers] does not list", h)
		}
		spec, err := parseHandler(ini, h)
		if err != nil {
			return nil, err
		}
		cfg.handlers = append(cfg.handlers, spec)
	}
	return cfg, nil
}

// handler classes we build, with the parameter names of their Python constructors so that
// positional args and kwargs map the same way Python maps them.
var handlerParams = map[string][]string{
	"StreamHandler":                     {"stream"},
	"FileHandler":                       {"filename", "mode", "encoding", "delay", "errors"},
	"handlers.RotatingFileHandler":      {"filename", "mode", "maxBytes", "backupCount", "encoding", "delay", "errors"},
	"handlers.TimedRotatingFileHandler": {"filename", "when", "interval", "backupCount", "encoding", "delay", "utc", "atTime", "errors"},
	"NullHandler":                       {},
}

func parseHandler(ini *iniFile, name string) (handlerSpec, error) {
	section := "handler_" + name
	fail := func(format string, args ...any) (handlerSpec, error) {
		return handlerSpec{}, fmt.Errorf("[%s] %s", section, fmt.Sprintf(format, args...))
	}
	if _, ok := ini.sections[section]; !ok {
		return handlerSpec{}, fmt.Errorf("missing section [%s]", section)
	}
	class, ok, err := ini.get(section, "class")
	if err != nil {
		return fail("class: %v", err)
	}
	if !ok {
		return fail("has no \"class\" key")
	}
	class = strings.TrimPrefix(strings.TrimSpace(class), "logging.")
	params, known := handlerParams[class]
	if !known {
		return fail("class %q is not supported (supported: StreamHandler, FileHandler, handlers.RotatingFileHandler, handlers.TimedRotatingFileHandler, NullHandler)", class)
	}
	args := map[string]any{}
	argText, _, err := ini.get(section, "args")
	if err != nil {
		return fail("args: %v", err)
	}
	if strings.TrimSpace(argText) == "" {
		argText = "()"
	}
	av, err := parsePyLiteral(argText)
	if err != nil {
		return fail("args %s: %v", argText, err)
	}
	list, isTuple := av.([]any)
	if !isTuple {
		list = []any{av} // Python's "args = ('x.log')" is a string, not a tuple; accept it as one argument
	}
	if len(list) > len(params) {
		return fail("args %s: %s takes at most %d arguments", argText, class, len(params))
	}
	for i, v := range list {
		args[params[i]] = v
	}
	if kwText, ok, err := ini.get(section, "kwargs"); err != nil {
		return fail("kwargs: %v", err)
	} else if ok && strings.TrimSpace(kwText) != "" {
		kv, err := parsePyLiteral(kwText)
		if err != nil {
			return fail("kwargs %s: %v", kwText, err)
		}
		kw, isDict := kv.(map[string]any)
		if !isDict {
			return fail("kwargs must be a dict, got %s", kwText)
		}
		for k, v := range kw {
			if !slices.Contains(params, k) {
				return fail("kwargs: %s has no parameter %q", class, k)
			}
			if _, dup := args[k]; dup {
				return fail("kwargs: %q is also given in args", k)
			}
			args[k] = v
		}
	}
	h := handlerSpec{name: name, level: levelNotSet}
	if lv, ok, err := ini.get(section, "level"); err != nil {
		return fail("level: %v", err)
	} else if ok {
		if h.level, err = pythonLevel(lv); err != nil {
			return fail("level: %v", err)
		}
	}
	if err := h.fill(class, args); err != nil {
		return fail("%v", err)
	}
	return h, nil
}

// fill reads the constructor arguments of class into the spec.
func (h *handlerSpec) fill(class string, args map[string]any) error {
	str := func(k string) (string, bool, error) {
		v, ok := args[k]
		if !ok || v == nil {
			return "", false, nil
		}
		s, isStr := v.(string)
		if !isStr {
			return "", false, fmt.Errorf("%s must be a string, got %v", k, v)
		}
		return s, true, nil
	}
	integer := func(k string) (int64, error) {
		v, ok := args[k]
		if !ok {
			return 0, nil
		}
		n, isInt := v.(int64)
		if !isInt {
			return 0, fmt.Errorf("%s must be an integer, got %v", k, v)
		}
		return n, nil
	}
	boolean := func(k string) (bool, error) {
		v, ok := args[k]
		if !ok || v == nil {
			return false, nil
		}
		switch b := v.(type) {
		case bool:
			return b, nil
		case int64:
			return b != 0, nil
		}
		return false, fmt.Errorf("%s must be True or False, got %v", k, v)
	}
	if enc, ok, err := str("encoding"); err != nil {
		return err
	} else if ok && !strings.EqualFold(strings.ReplaceAll(enc, "-", ""), "utf8") {
		return fmt.Errorf("encoding %q is not supported (logs are written as UTF-8)", enc)
	}
	switch class {
	case "NullHandler":
		h.null = true
		return nil
	case "StreamHandler":
		v, ok := args["stream"]
		if !ok || v == nil {
			h.stream = "stderr" // Python's StreamHandler() writes to sys.stderr
			return nil
		}
		switch v {
		case pyName("sys.stdout"), pyName("ext://sys.stdout"):
			h.stream = "stdout"
		case pyName("sys.stderr"), pyName("ext://sys.stderr"):
			h.stream = "stderr"
		default:
			return fmt.Errorf("stream must be sys.stdout or sys.stderr, got %v", v)
		}
		return nil
	}
	name, ok, err := str("filename")
	if err != nil {
		return err
	}
	if !ok || name == "" {
		return errors.New("args must start with a file name")
	}
	h.filename = name
	if h.delay, err = boolean("delay"); err != nil {
		return err
	}
	switch class {
	case "FileHandler", "handlers.RotatingFileHandler":
		mode, _, err := str("mode")
		if err != nil {
			return err
		}
		switch mode {
		case "", "a":
		case "w":
			h.truncate = true
		default:
			return fmt.Errorf("mode %q is not supported (use 'a' or 'w')", mode)
		}
		if class == "FileHandler" {
			return nil
		}
		if h.rot.maxBytes, err = integer("maxBytes"); err != nil {
			return err
		}
		n, err := integer("backupCount")
		if err != nil {
			return err
		}
		h.rot.backups = int(n)
		if h.rot.sized() {
			h.truncate = false // Python forces append mode when rotating by size
		}
	case "handlers.TimedRotatingFileHandler":
		when, ok, err := str("when")
		if err != nil {
			return err
		}
		if !ok {
			when = "h"
		}
		h.rot.when = strings.ToUpper(when)
		if !whenPattern.MatchString(h.rot.when) {
			return fmt.Errorf("when %q is not one of S, M, H, D, MIDNIGHT, W0..W6", when)
		}
		interval, err := integer("interval")
		if err != nil {
			return err
		}
		if _, given := args["interval"]; !given {
			interval = 1
		}
		if interval < 1 {
			return fmt.Errorf("interval must be 1 or more, got %d", interval)
		}
		h.rot.interval = int(interval)
		n, err := integer("backupCount")
		if err != nil {
			return err
		}
		h.rot.backups = int(n)
		if h.rot.utc, err = boolean("utc"); err != nil {
			return err
		}
		if v, ok := args["atTime"]; ok && v != nil {
			return errors.New("atTime is not supported")
		}
	}
	return nil
}
