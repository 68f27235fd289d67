package config

import (
	"errors"
)

// LogLevels are the values --logging-level accepts, as in the Python project.
var LogLevels = []string{"CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"}

// DefaultLoggingPaths is where logs go unless told otherwise.
var DefaultLoggingPaths = []string{"/dev/stdout"}

// Logging holds the logging group's options; NewLogger turns it into a *slog.Logger.
type Logging struct {
	// Level is one of LogLevels.
	Level string
	// Paths are the log sinks: "/dev/stdout" or "-" (stdout), "/dev/stderr", or files that are
	// appended to and rotated at local midnight.
	Paths []string
	// ConfigFile is a Python logging.config.fileConfig INI file that, when set, replaces
	// Level and Paths.
	ConfigFile string
}

// LoggingGroup declares --logging-level/-ll, --logging-paths/-lp and
// --logging-config-file/-lcf (TOML keys logging_level, logging_paths, logging_config_file).
func LoggingGroup(l *Logging) *Group {
	return NewGroup("Logging",
		Enum(&l.Level, "logging-level", "ll", "INFO", LogLevels, "logging level"),
		Strings(&l.Paths, "logging-paths", "lp", DefaultLoggingPaths,
			"comma-separated log destinations: /dev/stdout or - for stdout, /dev/stderr, or files (rotated at local midnight)").
			Placeholder("PATH,...").Check(NonEmptyList),
		String(&l.ConfigFile, "logging-config-file", "lcf", "",
			"Python logging.config.fileConfig INI file; overrides the other logging options").
			Placeholder("FILE"),
	)
}

// TLS holds the certificate and key a process presents when it binds tls:// or wss://.
type TLS struct {
	// Cert is the PEM certificate chain file.
	Cert string
	// Key is the PEM private key file.
	Key string
}

// Enabled reports whether credentials were given.
func (t TLS) Enabled() bool { return t.Cert != "" }

// ErrTLSPair is returned when only one of --tls-cert and --tls-key is given.
var ErrTLSPair = errors.New("--tls-cert and --tls-key must be given together")

// TLSGroup declares --tls-cert/-tc and --tls-key/-tk, which must be given together.
func TLSGroup(t *TLS) *Group {
	return NewGroup("TLS",
		String(&t.Cert, "tls-cert", "tc", "", "PEM certificate chain used when binding tls:// or wss://").Placeholder("FILE"),
		String(&t.Key, "tls-key", "tk", "", "PEM private key matching --tls-cert").Placeholder("FILE"),
	).Check(func() error {
		if (t.Cert == "") != (t.Key == "") {
			return ErrTLSPair
		}
		return nil
	})
}

// Network backends selectable with NetworkBackend.
const (
	BackendYMQ = "ymq"
	BackendZMQ = "zmq"
)

// NetworkBackendEnv is the environment variable that picks the network backend for every
// process, as in the Python project.
const NetworkBackendEnv = "SCALER_NETWORK_BACKEND"

// NetworkBackend declares --network-backend (TOML network_backend, env SCALER_NETWORK_BACKEND),
// ymq or zmq, default ymq.
func NetworkBackend(p *string) *Option[string] {
	return Enum(p, "network-backend", "", BackendYMQ, []string{BackendYMQ, BackendZMQ},
		"network backend for scheduler, client and worker links (object storage always uses ymq)").
		Env(NetworkBackendEnv)
}
