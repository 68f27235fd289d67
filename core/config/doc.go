// Package config is the option system of every command of the scaler binary: each option is
// declared once (long flag, short alias, TOML key, environment variable, default, help text,
// validation) and bound to a typed destination; Parse fills the destinations from the command
// line, the environment, the --config TOML file and the defaults, in that order of precedence,
// and the help text is generated from the same declarations through urfave/cli.
//
// A command file declares its options in groups and parses argv:
//
//	type schedulerConfig struct {
//		Address       address.Address
//		ClientTimeout int
//		Protected     bool
//		Logging       config.Logging
//	}
//
//	var c schedulerConfig
//	cmd := &config.Command{
//		Name:    "scaler_scheduler",
//		Usage:   "start the scheduler",
//		Section: config.SectionScheduler,
//		Groups: []*config.Group{
//			config.NewGroup("Scheduler",
//				config.Address(&c.Address, "scheduler-address", "", "address to bind").Positional().Required(),
//				config.Int(&c.ClientTimeout, "client-timeout-seconds", "ct", 60, "client timeout").Check(config.Positive),
//				config.Bool(&c.Protected, "protected", "p", "refuse client shutdown requests"),
//			),
//			config.LoggingGroup(&c.Logging),
//		},
//	}
//	res, err := cmd.Parse(args, config.ParseOptions{LookupEnv: os.LookupEnv})
//
// Parse returns ErrHelp after printing help and UsageError for command-line mistakes (exit
// status 2); TOML mistakes are plain errors naming the file, section and key, and unknown TOML
// keys come back as Warnings with the closest valid key. scaler_worker_manager is a Command
// with Subcommands whose options come from the [[worker_manager]] entry of the matching type.
// The launcher reads a whole file with LoadFile and fills each command with ParseTable.
//
// NewLogger builds the process's *slog.Logger from the Logging group, including Python
// logging.config.fileConfig files.
package config
