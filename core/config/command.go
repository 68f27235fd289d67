package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// Group is a titled set of declarations that help shows together. Commands share a group by
// calling the same constructor with their own destination (see LoggingGroup).
type Group struct {
	// Title heads the group in help, e.g. "Logging".
	Title string
	// Decls are the options in help order.
	Decls []Decl
	// Checks validate combinations of the group's options once each option is valid on its
	// own (e.g. a TLS certificate needs its key).
	Checks []func() error
}

// NewGroup returns a group of declarations.
func NewGroup(title string, decls ...Decl) *Group {
	return &Group{Title: title, Decls: decls}
}

// Check adds a cross-option validation to the group and returns the group.
func (g *Group) Check(fn func() error) *Group {
	g.Checks = append(g.Checks, fn)
	return g
}

// Command declares one command line: its options (in groups), its TOML section and, for
// scaler_worker_manager, its subcommands. A Command is not safe for concurrent Parse calls:
// parsing writes the bound destinations. A declaration belongs to one Command; build the
// groups afresh (e.g. LoggingGroup(&c.Logging)) for each command that shares them.
type Command struct {
	// Name is the program name (scaler_scheduler) or, for a subcommand, the subcommand name
	// (baremetal_native), which is also the "type" of its [[worker_manager]] entry.
	Name string
	// Usage is a one-line summary.
	Usage string
	// Description is optional longer help text.
	Description string
	// Section is the TOML table read with --config ("scheduler"). On a command with
	// subcommands it names the array of tables ("worker_manager") whose entry with
	// type = <subcommand> configures the subcommand.
	Section string
	// Groups hold the options. A command with subcommands has none of its own.
	Groups []*Group
	// Checks validate combinations of options across groups.
	Checks []func() error
	// Subcommands, when present, must be the first argument.
	Subcommands []*Command

	parent      *Command
	prepared    bool
	prepErr     error
	specs       []*spec          // every declaration, help order
	flags       map[string]*spec // flag name without dashes -> declaration
	positionals []*spec
	keys        map[string]*spec // normalized TOML key -> option
	keyList     []string         // TOML keys, for suggestions
	config      *spec            // the implicit --config/-c
}

// ParseOptions supplies what Parse reads besides argv. The zero value reads no environment,
// prints help to os.Stdout and reads files with os.ReadFile.
type ParseOptions struct {
	// LookupEnv reads environment variables (os.LookupEnv); nil reads none.
	LookupEnv func(string) (string, bool)
	// Stdout receives the help text.
	Stdout io.Writer
	// ReadFile reads the --config file; tests and fuzzing substitute an in-memory file.
	ReadFile func(string) ([]byte, error)
}

func (o ParseOptions) stdout() io.Writer {
	if o.Stdout == nil {
		return os.Stdout
	}
	return o.Stdout
}

func (o ParseOptions) readFile(path string) ([]byte, error) {
	if o.ReadFile == nil {
		return os.ReadFile(path)
	}
	return o.ReadFile(path)
}

// Result describes a successful parse. The values themselves are in the bound destinations.
type Result struct {
	// Command is the command whose options were filled: the subcommand for
	// scaler_worker_manager, else the command itself.
	Command *Command
	// ConfigFile is the --config path, "" when none was given.
	ConfigFile string
	// Warnings list problems in the TOML file that were ignored (unknown keys, ...); log them.
	Warnings []Warning
}

// Setting is the effective value of one option after a parse.
type Setting struct {
	// Key is the TOML key of the option.
	Key string
	// Value is the value as a TOML literal.
	Value string
	// Source tells which layer supplied it.
	Source Source
}

// String renders the setting as a TOML line with its source as a comment.
func (s Setting) String() string {
	return fmt.Sprintf("%s = %s  # %s", s.Key, s.Value, s.Source)
}

// Settings lists every option of the parsed command with its effective value, in help order;
// commands log them at start-up.
func (r *Result) Settings() []Setting {
	var out []Setting
	for _, s := range r.Command.specs {
		if s.val == nil {
			continue
		}
		v := s.val.literal()
		if s.secret && s.source != FromDefault {
			v = `"<hidden>"`
		}
		out = append(out, Setting{Key: s.tomlKey, Value: v, Source: s.source})
	}
	return out
}

// Source reports where the option with the given long name got its value (FromDefault for
// unknown names).
func (r *Result) Source(name string) Source {
	for _, s := range r.Command.specs {
		if s.name == name && s.val != nil {
			return s.source
		}
	}
	return FromDefault
}

// IsSet reports whether the option with the given long name was given by any source other
// than its default, e.g. to derive a monitor address only when none was given.
func (r *Result) IsSet(name string) bool { return r.Source(name) != FromDefault }

// Validate checks the declarations themselves (unique flag names and TOML keys, resolvable
// aliases, ...). Parse calls it; tests of command files call it directly.
func (c *Command) Validate() error {
	if !c.prepared {
		c.prepared = true
		c.prepErr = c.build()
	}
	return c.prepErr
}

func validName(n string) bool {
	if n == "" || n[0] == '-' {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

func (c *Command) build() error {
	if c.Name == "" {
		return errors.New("config: command without a name")
	}
	if len(c.Subcommands) > 0 {
		if len(c.Groups) > 0 {
			return fmt.Errorf("config: command %s has subcommands, so its options belong to each subcommand", c.Name)
		}
		seen := map[string]bool{}
		for _, sub := range c.Subcommands {
			if seen[sub.Name] {
				return fmt.Errorf("config: command %s: subcommand %s declared twice", c.Name, sub.Name)
			}
			seen[sub.Name] = true
			sub.parent = c
			if err := sub.Validate(); err != nil {
				return err
			}
		}
		return nil
	}
	where := c.fullName()
	c.flags = map[string]*spec{}
	c.keys = map[string]*spec{}
	c.config = &spec{name: "config", short: "c", placeholder: "FILE", noTOML: true,
		usage: "TOML file to read options from (" + c.sectionRef() + ")"}
	byName := map[string]*spec{}
	reserved := map[string]bool{"config": true, "c": true, "help": true, "h": true}
	for _, g := range c.Groups {
		for _, d := range g.Decls {
			s := d.decl()
			if !validName(s.name) {
				return fmt.Errorf("config: %s: option name %q must be lower-case kebab-case", where, s.name)
			}
			if s.positional && s.aliasOf != "" {
				return fmt.Errorf("config: %s: alias %s cannot be positional", where, s.name)
			}
			if prev, dup := byName[s.name]; dup && prev != s {
				return fmt.Errorf("config: %s: option %s declared twice", where, s.name)
			}
			byName[s.name] = s
			for _, n := range s.flagNames() {
				if !validName(n) || reserved[n] {
					return fmt.Errorf("config: %s: flag name %q of %s is invalid or reserved", where, n, s.name)
				}
				if other, dup := c.flags[n]; dup {
					return fmt.Errorf("config: %s: flag -%s used by both %s and %s", where, n, other.name, s.name)
				}
				c.flags[n] = s
			}
			for _, k := range s.keys() {
				if other, dup := c.keys[k]; dup {
					return fmt.Errorf("config: %s: TOML key %s used by both %s and %s", where, k, other.name, s.name)
				}
				if k == "type" && c.parent != nil {
					return fmt.Errorf("config: %s: TOML key \"type\" selects the subcommand and cannot be an option", where)
				}
				c.keys[k] = s
				c.keyList = append(c.keyList, k)
			}
			if s.positional {
				c.positionals = append(c.positionals, s)
			}
			c.specs = append(c.specs, s)
		}
	}
	for _, s := range c.specs {
		if s.aliasOf == "" {
			continue
		}
		t := byName[s.aliasOf]
		if t == nil || t.val == nil || t.positional {
			return fmt.Errorf("config: %s: alias %s names %q, which is not an option flag of this command", where, s.name, s.aliasOf)
		}
		s.target = t
	}
	c.flags["config"], c.flags["c"] = c.config, c.config
	return nil
}

// fullName is the name shown in usage lines: "scaler_worker_manager baremetal_native".
func (c *Command) fullName() string {
	if c.parent != nil {
		return c.parent.Name + " " + c.Name
	}
	return c.Name
}

// isTyped reports whether the command reads a [[array]] entry selected by its type.
func (c *Command) isTyped() bool { return c.parent != nil && c.parent.Section != "" }

func (c *Command) sectionName() string {
	if c.isTyped() {
		return c.parent.Section
	}
	return c.Section
}

// sectionRef names where the command's TOML options live: "[scheduler]" or
// `[[worker_manager]] with type = "baremetal_native"`.
func (c *Command) sectionRef() string {
	switch {
	case c.isTyped():
		return fmt.Sprintf("[[%s]] with type = %q", c.parent.Section, c.Name)
	case c.Section != "":
		return "[" + c.Section + "]"
	default:
		return "the top level"
	}
}

func (s *spec) takesValue() bool {
	switch {
	case s.val != nil:
		return !s.val.isBool()
	case s.target != nil:
		return !s.target.val.isBool()
	default:
		return true // --config
	}
}

// Parse reads argv (without the program name) together with the --config file and the
// environment, writes every option's destination and validates the result. Errors are one
// line; UsageError marks command-line mistakes; ErrHelp means help was printed.
func (c *Command) Parse(args []string, o ParseOptions) (*Result, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if len(c.Subcommands) > 0 {
		return c.parseParent(args, o)
	}
	return c.parseLeaf(args, o)
}

// Help prints the help text, as -h does.
func (c *Command) Help(w io.Writer) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if len(c.Subcommands) > 0 {
		return c.runHelpApp(c.parentApp(w))
	}
	return c.runHelpApp(c.leafApp(&parseRun{}, w))
}

// subcommandNames lists the subcommands for messages.
func (c *Command) subcommandNames() []string {
	names := make([]string, len(c.Subcommands))
	for i, s := range c.Subcommands {
		names[i] = s.Name
	}
	return names
}

// Subcommand returns the subcommand called name, or nil.
func (c *Command) Subcommand(name string) *Command {
	for _, s := range c.Subcommands {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// parseParent finds the subcommand, which must be the first argument except that -c FILE and
// -h may precede it (the Python entry point pre-scans argv for -c), and hands the rest over.
func (c *Command) parseParent(args []string, o ParseOptions) (*Result, error) {
	choices := strings.Join(c.subcommandNames(), ", ")
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch {
		case a == "--":
			return nil, usageErrorf("missing subcommand, must be one of: %s", choices)
		case strings.HasPrefix(a, "-") && isHelpName(name):
			if err := c.Help(o.stdout()); err != nil {
				return nil, err
			}
			return nil, ErrHelp
		case strings.HasPrefix(a, "-") && (name == "c" || name == "config"):
			if !hasValue {
				i++
			}
		case strings.HasPrefix(a, "-") && a != "-":
			return nil, usageErrorf("%s: options go after the subcommand: %s SUBCOMMAND [options] ...", shown(a), c.Name)
		default:
			sub := c.Subcommand(a)
			if sub == nil {
				msg := fmt.Sprintf("unknown subcommand %q, must be one of: %s", a, choices)
				if s := suggest(a, c.subcommandNames()); s != "" {
					msg += fmt.Sprintf("; did you mean %q?", s)
				}
				return nil, UsageError{Err: errors.New(msg)}
			}
			rest := append(slices.Clone(args[:i]), args[i+1:]...)
			return sub.parseLeaf(rest, o)
		}
	}
	return nil, usageErrorf("missing subcommand, must be one of: %s", choices)
}

// cliRecord is one flag occurrence as urfave/cli's flag set saw it.
type cliRecord struct {
	s   *spec
	raw string
}

// parseRun collects what urfave/cli parsed during one Parse.
type parseRun struct {
	seq  []cliRecord
	args []string
	ran  bool
}

func isHelpName(n string) bool { return n == "h" || n == "help" }

// split reorders argv into flags (with their values) followed by positionals, because the Go
// flag package behind urfave/cli stops at the first positional while the Python commands take
// `scaler_scheduler tcp://... --object-storage-address ...`. It knows from the declarations
// which flags take a value, so it never mistakes a value for a positional; it also rejects
// unknown flags here so the message can name the closest real one.
func (c *Command) split(args []string) (flags, positionals []string, help bool, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positionals = append(positionals, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			positionals = append(positionals, a)
			continue
		}
		body := strings.TrimPrefix(a[1:], "-")
		name, _, hasValue := strings.Cut(body, "=")
		if name == "" || name[0] == '-' {
			if err == nil {
				err = usageErrorf("bad flag syntax %q", a)
			}
			continue
		}
		if isHelpName(name) {
			help = true
			continue
		}
		flags = append(flags, a)
		s := c.flags[name]
		if s == nil {
			// Keep scanning: a -h further on still gets help, as with argparse.
			if err == nil {
				err = c.unknownFlag(a, name)
			}
			continue
		}
		if hasValue || !s.takesValue() {
			continue
		}
		if i+1 >= len(args) {
			if err == nil {
				err = usageErrorf("%s: needs a value", shown(a))
			}
			break
		}
		i++
		flags = append(flags, args[i])
	}
	if help {
		return nil, nil, true, nil
	}
	return flags, positionals, false, err
}

func (c *Command) unknownFlag(arg, name string) error {
	var names []string
	for _, s := range c.specs {
		if !s.hidden && !s.positional {
			names = append(names, s.name)
		}
	}
	names = append(names, "config", "help")
	msg := fmt.Sprintf("unknown flag %s", shown(strings.SplitN(arg, "=", 2)[0]))
	if s := suggest(name, names); s != "" {
		msg += fmt.Sprintf("; did you mean --%s?", s)
	}
	return UsageError{Err: errors.New(msg)}
}

func (c *Command) parseLeaf(args []string, o ParseOptions) (*Result, error) {
	flags, positionals, help, err := c.split(args)
	if err != nil {
		return nil, err
	}
	if help {
		// Help wins over everything else on the line, as with argparse; urfave/cli would
		// instead treat a positional next to -h as a help topic.
		if err := c.Help(o.stdout()); err != nil {
			return nil, err
		}
		return nil, ErrHelp
	}
	run := &parseRun{}
	argv := append([]string{c.Name}, flags...)
	argv = append(argv, "--")
	argv = append(argv, positionals...)
	if err := c.leafApp(run, o.stdout()).Run(argv); err != nil {
		var ue UsageError
		if errors.As(err, &ue) {
			return nil, err
		}
		return nil, UsageError{Err: errors.New(oneLine(err.Error()))}
	}
	if !run.ran {
		return nil, errors.New("config: urfave/cli did not run the command")
	}
	res := &Result{Command: c}
	for _, r := range run.seq {
		if r.s == c.config {
			res.ConfigFile = r.raw
		}
	}
	c.reset()
	if res.ConfigFile != "" {
		t, warnings, err := c.loadTable(res.ConfigFile, o)
		res.Warnings = warnings
		if err != nil {
			return nil, err
		}
		if t != nil {
			ws, err := c.applyTable(t)
			res.Warnings = append(res.Warnings, ws...)
			if err != nil {
				return nil, err
			}
		}
	}
	if err := c.applyEnv(o.LookupEnv); err != nil {
		return nil, err
	}
	if err := c.applyCLI(run.seq, run.args); err != nil {
		return nil, err
	}
	if err := c.finish(res.ConfigFile); err != nil {
		return nil, err
	}
	return res, nil
}

// ParseTable fills the options from one TOML table alone, as the launcher does for each
// section of its file; no command line is involved. With o.LookupEnv set, environment
// variables override the table. On a command with subcommands the table's Type picks the
// subcommand. Like Parse it writes the bound destinations, so a launcher that runs several
// [[worker_manager]] entries of one type builds a fresh Command (and config value) per entry.
func (c *Command) ParseTable(t *Table, o ParseOptions) (*Result, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	leaf := c
	if len(c.Subcommands) > 0 {
		leaf = c.Subcommand(t.Type)
		if leaf == nil {
			return nil, fmt.Errorf("%s: %s: unknown type %q, must be one of: %s",
				t.File, t.Label(), t.Type, strings.Join(c.subcommandNames(), ", "))
		}
	}
	leaf.reset()
	res := &Result{Command: leaf, ConfigFile: t.File}
	ws, err := leaf.applyTable(t)
	res.Warnings = ws
	if err != nil {
		return nil, err
	}
	if err := leaf.applyEnv(o.LookupEnv); err != nil {
		return nil, err
	}
	if err := leaf.finishTable(t); err != nil {
		// A missing option is often a misspelt one: say so in the same line.
		for _, w := range ws {
			if w.Suggestion != "" {
				return nil, fmt.Errorf("%w (%s)", err, w.String())
			}
		}
		return nil, err
	}
	return res, nil
}

func (c *Command) reset() {
	for _, s := range c.specs {
		if s.val != nil {
			s.val.reset()
		}
		s.source, s.origin = FromDefault, ""
	}
}

func (c *Command) applyEnv(lookup func(string) (string, bool)) error {
	if lookup == nil {
		return nil
	}
	for _, s := range c.specs {
		if s.env == "" || s.val == nil {
			continue
		}
		v, ok := lookup(s.env)
		// An empty variable counts as unset: `FOO= cmd` is how shells clear a variable
		// for one command, and "" would fail to parse as a number anyway.
		if !ok || v == "" {
			continue
		}
		if err := s.val.set(v); err != nil {
			return usageErrorf("$%s: %w", s.env, err)
		}
		s.source, s.origin = FromEnv, "$"+s.env
	}
	return nil
}

func (c *Command) applyCLI(seq []cliRecord, positionals []string) error {
	type occurrence struct {
		via *spec
		raw string
	}
	byTarget := map[*spec][]occurrence{}
	var order []*spec
	for _, r := range seq {
		t := r.s
		if t == c.config {
			continue
		}
		if t.target != nil {
			t = t.target
		}
		if _, seen := byTarget[t]; !seen {
			order = append(order, t)
		}
		byTarget[t] = append(byTarget[t], occurrence{r.s, r.raw})
	}
	for _, t := range order {
		occ := byTarget[t]
		last := "--" + occ[len(occ)-1].via.name
		if t.val.accumulates() {
			raws := make([]string, len(occ))
			for i, o := range occ {
				raws[i] = o.raw
			}
			if err := t.val.set(strings.Join(raws, ",")); err != nil {
				return usageErrorf("%s: %w", last, err)
			}
		} else {
			for _, o := range occ {
				if err := t.val.set(o.raw); err != nil {
					return usageErrorf("--%s: %w", o.via.name, err)
				}
			}
		}
		t.source, t.origin = FromCommandLine, last
	}
	if len(positionals) > len(c.positionals) {
		return usageErrorf("unexpected argument %q (usage: %s)", positionals[len(c.positionals)], c.usageLine())
	}
	for i, raw := range positionals {
		s := c.positionals[i]
		if err := s.val.set(raw); err != nil {
			return usageErrorf("%s: %w", s.tomlKey, err)
		}
		s.source, s.origin = FromCommandLine, s.tomlKey
	}
	return nil
}

// missing lists required options that no source supplied.
func (c *Command) missing() []*spec {
	var out []*spec
	for _, s := range c.specs {
		if s.required && s.val != nil && s.source == FromDefault {
			out = append(out, s)
		}
	}
	return out
}

// finish checks required options and validates values after a command-line parse.
func (c *Command) finish(configFile string) error {
	if miss := c.missing(); len(miss) > 0 {
		names := make([]string, len(miss))
		for i, s := range miss {
			names[i] = s.display()
			if s.positional {
				names[i] = "<" + s.tomlKey + ">"
			}
		}
		pronoun := "it"
		if len(miss) > 1 {
			pronoun = "them"
		}
		hint := fmt.Sprintf("give %s on the command line or in %s of a --config file", pronoun, c.sectionRef())
		if configFile != "" {
			hint = fmt.Sprintf("neither on the command line nor in %s of %s", c.sectionRef(), configFile)
		}
		return usageErrorf("missing %s (%s)", strings.Join(names, ", "), hint)
	}
	return c.validate(true)
}

func (c *Command) finishTable(t *Table) error {
	if miss := c.missing(); len(miss) > 0 {
		keys := make([]string, len(miss))
		for i, s := range miss {
			keys[i] = s.tomlKey
		}
		return fmt.Errorf("%s: %s: missing %s", t.File, t.Label(), strings.Join(keys, ", "))
	}
	return c.validate(false)
}

// validate runs the per-option checks, then the group and command checks. Check errors are
// usage errors when the offending value came from the command line or environment; the
// cross-option checks count as usage errors whenever a command line was parsed.
func (c *Command) validate(fromCLI bool) error {
	for _, s := range c.specs {
		if s.val == nil || s.source == FromDefault {
			continue
		}
		if err := s.val.check(); err != nil {
			if s.source == FromFile {
				return fmt.Errorf("%s: %w", s.origin, err)
			}
			return usageErrorf("%s: %w", s.origin, err)
		}
	}
	var checks []func() error
	for _, g := range c.Groups {
		checks = append(checks, g.Checks...)
	}
	checks = append(checks, c.Checks...)
	for _, fn := range checks {
		if err := fn(); err != nil {
			if fromCLI {
				return UsageError{Err: err}
			}
			return err
		}
	}
	return nil
}

// usageLine is "scaler_scheduler [options] <scheduler_address>".
func (c *Command) usageLine() string {
	var b strings.Builder
	b.WriteString(c.fullName())
	b.WriteString(" [options]")
	for _, p := range c.positionals {
		if p.required {
			fmt.Fprintf(&b, " <%s>", p.tomlKey)
		} else {
			fmt.Fprintf(&b, " [<%s>]", p.tomlKey)
		}
	}
	return b.String()
}
