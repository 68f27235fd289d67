// Package applets holds one file per command of the multicall binary: option parsing and
// wiring only, no business logic. Main dispatches on the program name or the first argument.
package applets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strings"
	"syscall"

	"github.com/scaler-go/scaler/core/config"
)

// Env is what a command may touch besides its arguments, so commands run in tests without a
// process of their own.
type Env struct {
	Stdout io.Writer
	Stderr io.Writer
}

// Applet is one command of the binary.
type Applet struct {
	// Name is the command name, also the symlink name that selects it.
	Name string
	// Summary is one line for the command list.
	Summary string
	// Hidden commands (internal helpers) are not listed and get no symlink from `make build`.
	Hidden bool
	// Run executes the command with its arguments (without the command name). ctx ends on
	// SIGINT/SIGTERM.
	Run func(ctx context.Context, env Env, args []string) error
}

// UsageError marks errors caused by bad command-line input; Main exits with code 2 for them.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// ExitError carries a specific exit code out of a command.
type ExitError struct {
	Code int
	Err  error
}

func (e ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}
func (e ExitError) Unwrap() error { return e.Err }

var registry = map[string]Applet{}

// Register adds a command; a duplicate name is a programming error and panics.
func Register(a Applet) {
	if _, dup := registry[a.Name]; dup {
		panic("applets: command registered twice: " + a.Name)
	}
	registry[a.Name] = a
}

// Lookup returns the command called name.
func Lookup(name string) (Applet, bool) {
	a, ok := registry[name]
	return a, ok
}

// List returns the commands sorted by name; hidden ones only when all is true.
func List(all bool) []Applet {
	var out []Applet
	for _, a := range registry {
		if a.Hidden && !all {
			continue
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Main runs the command selected by args and exits the process with its status.
func Main(args []string) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	stopProfile := startProfile(args)
	code := Run(ctx, Env{Stdout: os.Stdout, Stderr: os.Stderr}, args)
	stopProfile()
	stop()
	os.Exit(code)
}

// startProfile writes a CPU profile of this process to $SCALER_CPUPROFILE.<command>.<pid>
// when that variable is set: a developer aid for profiling whole clusters.
func startProfile(args []string) func() {
	prefix := os.Getenv("SCALER_CPUPROFILE")
	if prefix == "" {
		return func() {}
	}
	name, _ := resolve(args)
	f, err := os.Create(fmt.Sprintf("%s.%s.%d", prefix, name, os.Getpid()))
	if err != nil {
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// Run dispatches and returns the exit status; it prints errors as one line on Stderr.
func Run(ctx context.Context, env Env, args []string) int {
	name, rest := resolve(args)
	a, ok := Lookup(name)
	if !ok {
		fmt.Fprintf(env.Stderr, "scaler: unknown command %q\n", name)
		printCommands(env.Stderr)
		return 2
	}
	err := a.Run(ctx, env, rest)
	return report(env.Stderr, a.Name, err)
}

// resolve picks the command: the program name when it is a command (a symlink), else the
// first argument when it is one, else the launcher.
func resolve(args []string) (string, []string) {
	if len(args) == 0 {
		return "scaler", nil
	}
	base := filepath.Base(args[0])
	if _, ok := registry[base]; ok && base != "scaler" {
		return base, args[1:]
	}
	if len(args) > 1 {
		if _, ok := registry[args[1]]; ok {
			return args[1], args[2:]
		}
	}
	return "scaler", args[1:]
}

func report(stderr io.Writer, name string, err error) int {
	if err == nil {
		return 0
	}
	var exit ExitError
	if errors.As(err, &exit) {
		if exit.Err != nil {
			fmt.Fprintf(stderr, "%s: %s\n", name, oneLine(exit.Err.Error()))
		}
		return exit.Code
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, config.ErrHelp) {
		return 0
	}
	fmt.Fprintf(stderr, "%s: %s\n", name, oneLine(err.Error()))
	if isUsage(err) {
		return 2
	}
	return 1
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

func printCommands(w io.Writer) {
	fmt.Fprintln(w, "commands:")
	for _, a := range List(false) {
		fmt.Fprintf(w, "  %-30s %s\n", a.Name, a.Summary)
	}
}
