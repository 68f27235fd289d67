package applets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/scaler-go/scaler/adapters/symphony"
	"github.com/scaler-go/scaler/core/config"
	"github.com/scaler-go/scaler/core/manager"
	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/worker"
)

func init() {
	registerManagerAdapter(managerAdapter{
		Name:  "symphony",
		Usage: "IBM Spectrum Symphony: Python tasks run in a Symphony application, reached through SYMREST",
		New:   func() adapterOptions { return &symphonyOptions{} },
	})
}

// symphonyPasswordEnv holds the Symphony password. It is read directly, not declared as an
// option: declared options are echoed in the debug log of settings, a password must not be.
const symphonyPasswordEnv = "SCALER_SYMPHONY_PASSWORD"

type symphonyOptions struct {
	ServiceName  string
	URL          string
	User         string
	PasswordFile string
	Auth         string
	CAFile       string
	SessionType  string
	Payload      string
	PollInterval float64
}

func (o *symphonyOptions) Groups() []*config.Group {
	return []*config.Group{
		config.NewGroup("symphony",
			config.String(&o.ServiceName, "service-name", "sn", "",
				"Symphony application the tasks run in (its service unpickles and calls them)").Required().Check(config.NonEmpty),
			config.String(&o.URL, "symrest-url", "", "https://localhost:8050",
				"SYMREST (Symphony's REST client API) on the Symphony master: https://host:port").Check(symphony.CheckURL),
			config.String(&o.User, "symphony-user", "", "Guest",
				"Symphony user; the password comes from $"+symphonyPasswordEnv+" or --symphony-password-file (user Guest defaults to password Guest)"),
			config.String(&o.PasswordFile, "symphony-password-file", "", "",
				"file whose first line is the Symphony password, instead of $"+symphonyPasswordEnv).Placeholder("FILE"),
			config.Enum(&o.Auth, "symphony-auth", "", "login", []string{"login", "basic"},
				"login: log in once and send the session cookies and CSRF token (renewed, and logged in again on 401); basic: HTTP Basic on every request"),
			config.String(&o.CAFile, "symrest-ca-file", "", "",
				"PEM bundle of the CA that signs SYMREST's certificate (default: the system's roots)").Placeholder("FILE"),
			config.String(&o.SessionType, "symphony-session-type", "", "RecoverableAllHistoricalData",
				"session type, as defined in the application profile").Check(config.NonEmpty),
			config.Enum(&o.Payload, "symphony-payload", "", "wrapped", []string{"wrapped", "plain"},
				"wrapped: the service returns the result in the client's serializer or the pickled exception (type and traceback kept); "+
					"plain: exactly the Python adapter's (function, *args) -> cloudpickle(result), default serializer only, exceptions as RuntimeError with Symphony's message"),
			config.Float(&o.PollInterval, "symphony-poll-interval-seconds", "", 0.5,
				"pause between polls for results that found none").Check(config.Positive[float64]),
		),
	}
}

// password finds the Symphony password without it ever being an option value.
func (o *symphonyOptions) password() (string, error) {
	env := os.Getenv(symphonyPasswordEnv)
	if o.PasswordFile != "" {
		if env != "" {
			return "", fmt.Errorf("the Symphony password is given twice: set $%s or --symphony-password-file, not both", symphonyPasswordEnv)
		}
		data, err := os.ReadFile(o.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("--symphony-password-file: %w", err)
		}
		line, _, _ := strings.Cut(string(data), "\n")
		line = strings.TrimRight(line, "\r")
		if line == "" {
			return "", fmt.Errorf("--symphony-password-file %s: the first line is empty", o.PasswordFile)
		}
		return line, nil
	}
	if env != "" {
		return env, nil
	}
	if o.User == "Guest" {
		return "Guest", nil // Symphony's default guest account, the Python adapter's credentials
	}
	return "", fmt.Errorf("no password for Symphony user %q: set $%s or give --symphony-password-file", o.User, symphonyPasswordEnv)
}

// withPython adds the python capability (any quantity) unless it is configured already.
func withPython(caps []protocol.Capability) []protocol.Capability {
	for _, c := range caps {
		if c.Name == symphony.PythonCapability {
			return caps
		}
	}
	return append(append([]protocol.Capability(nil), caps...), protocol.Capability{Name: symphony.PythonCapability, Value: -1})
}

func (o *symphonyOptions) Run(ctx context.Context, c *managerCommon, env Env, log *slog.Logger) error {
	password, err := o.password()
	if err != nil {
		return err
	}
	client, err := symphony.NewClient(symphony.ClientConfig{
		URL: o.URL, Application: o.ServiceName, User: o.User, Password: password,
		Auth: symphony.AuthMode(o.Auth), CAFile: o.CAFile, SessionType: o.SessionType, Logger: log,
	})
	if err != nil {
		return err
	}
	cfg, err := c.runnerConfig("worker_manager_symphony", log)
	if err != nil {
		return err
	}
	cfg.Capabilities = withPython(cfg.Capabilities)
	if c.Worker.Preload != "" || c.Worker.TaskTimeout != 0 {
		log.Warn("--preload and --task-timeout-seconds do not apply to Symphony tasks; ignored")
	}
	// Each unit takes up to max_task_concurrency tasks at once from the scheduler; the
	// executor bounds what is in Symphony to the same number for the whole manager.
	unitConcurrency := c.MaxTaskConcurrency
	if unitConcurrency <= 0 {
		unitConcurrency = c.Worker.QueueSize
	}
	exec := symphony.NewExecutor(client, symphony.ExecutorConfig{
		MaxInFlight:  c.MaxTaskConcurrency,
		Payload:      symphony.PayloadMode(o.Payload),
		PollInterval: time.Duration(o.PollInterval * float64(time.Second)),
		Application:  o.ServiceName,
		ManagerID:    c.ManagerID,
		Logger:       log,
	})
	prov := symphony.NewProvisioner(symphony.ProvisionerConfig{Worker: worker.Config{
		SchedulerAddress:     c.workerScheduler(),
		ObjectStorageAddress: c.ObjectStorage,
		WorkerManagerID:      c.ManagerID,
		MaxTaskConcurrency:   unitConcurrency,
		Capabilities:         cfg.Capabilities,
		QueueSize:            c.Worker.QueueSize,
		HeartbeatInterval:    time.Duration(c.Worker.HeartbeatInterval) * time.Second,
		DeathTimeout:         time.Duration(c.Worker.DeathTimeout) * time.Second,
		Backend:              cfg.Backend,
		Logger:               log,
	}}, exec)
	// The runner closes the provisioner when it ends; this covers a runner that never
	// started (scheduler address unusable), so the session is closed either way.
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := prov.Close(cctx); err != nil && !errors.Is(err, context.Canceled) {
			log.Warn("closing the Symphony manager", "err", err)
		}
	}()
	log.Info("symphony worker manager", "application", o.ServiceName, "symrest", client.URL(), "user", o.User,
		"auth", o.Auth, "payload", o.Payload, "max_task_concurrency", c.MaxTaskConcurrency)
	return manager.NewRunner(cfg, prov).Run(ctx)
}
