package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"
)

// LevelCritical is Python's CRITICAL, above slog's ERROR.
const LevelCritical = slog.LevelError + 4

// levelNotSet is Python's NOTSET: let everything through.
const levelNotSet = slog.LevelDebug - 4

// ParseLevel maps a --logging-level value (CRITICAL, ERROR, WARNING, INFO, DEBUG) to a
// slog level.
func ParseLevel(name string) (slog.Level, error) {
	if name == "NOTSET" {
		return 0, fmt.Errorf("unknown logging level %q", name)
	}
	l, err := pythonLevel(name)
	if err != nil {
		return 0, fmt.Errorf("logging level: %w", err)
	}
	return l, nil
}

// levelName prints levels the way Python does, so log lines read the same in both
// implementations and grep patterns keep working.
func levelName(l slog.Level) string {
	switch {
	case l >= LevelCritical:
		return "CRITICAL"
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARNING"
	case l >= slog.LevelInfo:
		return "INFO"
	default:
		return "DEBUG"
	}
}

func replaceLevel(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.LevelKey {
		if l, ok := a.Value.Any().(slog.Level); ok {
			return slog.String(slog.LevelKey, levelName(l))
		}
	}
	return a
}

// LoggerOptions are the process details NewLogger needs; the zero value means os.Stdout,
// os.Stderr and the real clock.
type LoggerOptions struct {
	// Stdout and Stderr receive the /dev/stdout, "-" and /dev/stderr sinks.
	Stdout, Stderr io.Writer
	// Now drives file rotation; tests move it.
	Now func() time.Time
}

// NewLogger builds the process logger from the logging options: a slog text handler per sink,
// records tagged component=<component>. It returns a function that closes the log files it
// opened. With a ConfigFile the file's root logger decides levels and sinks instead.
func NewLogger(l Logging, component string, o LoggerOptions) (*slog.Logger, func() error, error) {
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	var specs []handlerSpec
	var level slog.Level
	if l.ConfigFile != "" {
		data, err := os.ReadFile(l.ConfigFile)
		if err != nil {
			return nil, nil, fmt.Errorf("logging config file: %w", err)
		}
		cfg, err := parseLogFileConfig(string(data))
		if err != nil {
			return nil, nil, fmt.Errorf("logging config file %s: %s", l.ConfigFile, oneLine(err.Error()))
		}
		level, specs = cfg.rootLevel, cfg.handlers
	} else {
		var err error
		if level, err = ParseLevel(l.Level); err != nil {
			return nil, nil, err
		}
		for _, p := range l.Paths {
			h := handlerSpec{level: levelNotSet}
			switch p {
			case "/dev/stdout", "-":
				h.stream = "stdout"
			case "/dev/stderr":
				h.stream = "stderr"
			default:
				h.filename = p
				h.rot = rotation{when: "MIDNIGHT", interval: 1}
			}
			specs = append(specs, h)
		}
	}
	var handlers []slog.Handler
	var files []io.Closer
	closeAll := func() error {
		var errs []error
		for _, f := range files {
			errs = append(errs, f.Close())
		}
		return errors.Join(errs...)
	}
	for _, h := range specs {
		if h.null {
			continue
		}
		var w io.Writer
		switch h.stream {
		case "stdout":
			w = o.Stdout
		case "stderr":
			w = o.Stderr
		default:
			f, err := openLogFile(h.filename, h.truncate, h.delay, h.rot, o.Now)
			if err != nil {
				_ = closeAll()
				return nil, nil, err
			}
			files = append(files, f)
			w = f
		}
		// A record passes when it clears both the root level and the handler's own level.
		handlers = append(handlers, slog.NewTextHandler(w, &slog.HandlerOptions{
			Level:       max(level, h.level),
			ReplaceAttr: replaceLevel,
		}))
	}
	var handler slog.Handler = slog.DiscardHandler
	if len(handlers) == 1 {
		handler = handlers[0]
	} else if len(handlers) > 1 {
		handler = slog.NewMultiHandler(handlers...)
	}
	logger := slog.New(handler)
	if component != "" {
		logger = logger.With("component", component)
	}
	return logger, closeAll, nil
}

// LogWarnings logs configuration warnings at WARNING level, one record each.
func LogWarnings(logger *slog.Logger, warnings []Warning) {
	for _, w := range warnings {
		logger.Warn(w.String())
	}
}
