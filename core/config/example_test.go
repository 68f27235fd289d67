package config_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/scaler-go/scaler/core/config"
	"github.com/scaler-go/scaler/core/config/address"
)

// Example declares a small command, then parses a command line whose flags follow the
// positional, with a TOML file and an environment variable underneath.
func Example() {
	var c struct {
		Address       address.Address
		ClientTimeout int
		WorkerTimeout int
		Protected     bool
		Backend       string
		Caps          map[string]int
	}
	cmd := &config.Command{
		Name:    "scaler_scheduler",
		Section: config.SectionScheduler,
		Groups: []*config.Group{config.NewGroup("Scheduler",
			config.Address(&c.Address, "scheduler-address", "", "address to bind").Positional().Required(),
			config.Int(&c.ClientTimeout, "client-timeout-seconds", "ct", 60, "client timeout").Check(config.Positive),
			config.Int(&c.WorkerTimeout, "worker-timeout-seconds", "wt", 60, "worker timeout").Check(config.Positive),
			config.Bool(&c.Protected, "protected", "p", "refuse client shutdown requests"),
			config.NetworkBackend(&c.Backend),
			config.Capabilities(&c.Caps, "capabilities", "caps", "advertised capabilities"),
		)},
	}
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "scheduler.toml")
	os.WriteFile(file, []byte(`
[scheduler]
scheduler_address = "tcp://127.0.0.1:6378"
client_timeout_seconds = 30
worker_timeout_seconds = 90
worker_timout = 5
`), 0o644)
	env := map[string]string{"SCALER_NETWORK_BACKEND": "zmq"}
	res, err := cmd.Parse([]string{"-c", file, "tcp://0.0.0.0:8516", "-ct", "5", "-p", "--caps", "gpu,mem=64"},
		config.ParseOptions{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Address, c.ClientTimeout, c.WorkerTimeout, c.Protected, c.Backend, c.Caps)
	for _, w := range res.Warnings {
		fmt.Println("warning:", w.Message, "- did you mean", w.Suggestion)
	}
	for _, s := range res.Settings() {
		fmt.Println(s)
	}
	// Output:
	// tcp://0.0.0.0:8516 5 90 true zmq map[gpu:-1 mem:64]
	// warning: unknown key "worker_timout" ignored - did you mean worker_timeout_seconds
	// scheduler_address = "tcp://0.0.0.0:8516"  # command line
	// client_timeout_seconds = 5  # command line
	// worker_timeout_seconds = 90  # file
	// protected = true  # command line
	// network_backend = "zmq"  # env
	// capabilities = {gpu = -1, mem = 64}  # command line
}
