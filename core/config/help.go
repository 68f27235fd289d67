package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"
)

// cliFlag adapts one declaration to urfave/cli. Its flag values only record what the command
// line said; conversion happens afterwards so that the TOML and environment layers can sit
// underneath and every error names its source.
type cliFlag struct {
	s        *spec
	run      *parseRun
	category string
}

var (
	_ cli.DocGenerationFlag = (*cliFlag)(nil)
	_ cli.CategorizableFlag = (*cliFlag)(nil)
	_ cli.RequiredFlag      = (*cliFlag)(nil)
)

// Apply registers every name of the flag. Names() reports only the long name on purpose:
// urfave/cli refuses "two forms of the same flag" when a flag's names are all listed, while
// argparse (and we) let the last of -ct 5 --client-timeout-seconds 6 win.
func (f *cliFlag) Apply(set *flag.FlagSet) error {
	for _, n := range f.s.flagNames() {
		set.Var(&flagValue{f: f}, n, f.s.usage)
	}
	return nil
}

func (f *cliFlag) Names() []string { return []string{f.s.name} }

func (f *cliFlag) IsSet() bool {
	for _, r := range f.run.seq {
		if r.s == f.s {
			return true
		}
	}
	return false
}

// IsRequired is false even for required options: a TOML file or an environment variable may
// supply them, which only the config layer knows.
func (f *cliFlag) IsRequired() bool    { return false }
func (f *cliFlag) IsVisible() bool     { return !f.s.hidden }
func (f *cliFlag) GetCategory() string { return f.category }
func (f *cliFlag) TakesValue() bool    { return f.s.takesValue() }
func (f *cliFlag) GetUsage() string    { return f.s.usage }
func (f *cliFlag) GetValue() string    { return "" }
func (f *cliFlag) GetDefaultText() string {
	if f.s.val == nil {
		return ""
	}
	return f.s.val.defaultText()
}

func (f *cliFlag) GetEnvVars() []string {
	if f.s.env == "" {
		return nil
	}
	return []string{f.s.env}
}

// String is the help line: names and placeholder, a tab, then usage, required-ness, default
// and environment variable. urfave/cli aligns the tab through its tabwriter.
func (f *cliFlag) String() string {
	s := f.s
	left := "--" + s.name
	if s.short != "" {
		left += ", -" + s.short
	}
	if s.takesValue() {
		ph := s.placeholder
		if s.val != nil {
			ph = s.val.typeName()
		}
		left += " " + ph
	}
	return left + "\t" + describeOption(s)
}

func describeOption(s *spec) string {
	var b strings.Builder
	b.WriteString(s.usage)
	if s.required {
		b.WriteString(" (required)")
	}
	if s.val != nil && !s.required {
		if d := s.val.defaultText(); d != "" {
			fmt.Fprintf(&b, " (default: %s)", d)
		}
	}
	if s.env != "" {
		fmt.Fprintf(&b, " [$%s]", s.env)
	}
	return b.String()
}

// flagValue records each occurrence of a flag.
type flagValue struct{ f *cliFlag }

func (v *flagValue) Set(s string) error {
	v.f.run.seq = append(v.f.run.seq, cliRecord{s: v.f.s, raw: s})
	return nil
}

func (v *flagValue) String() string { return "" }

// IsBoolFlag lets the flag package accept -p without a value.
func (v *flagValue) IsBoolFlag() bool { return !v.f.s.takesValue() }

// helpGroup is one titled block of flags in the help template.
type helpGroup struct {
	Title string
	Flags []cli.Flag
}

// The templates list groups in declaration order (urfave's own templates sort categories by
// name), arguments first, then the TOML and precedence rules every command shares.
const leafHelpTemplate = `NAME:
   {{.HelpName}}{{if .Usage}} - {{.Usage}}{{end}}

USAGE:
   {{.UsageText}}{{if .Description}}

DESCRIPTION:
   {{wrap .Description 3}}{{end}}{{with index .Metadata "arguments"}}

ARGUMENTS:{{range .}}
   {{.}}{{end}}{{end}}{{range index .Metadata "groups"}}

{{.Title}}:{{range .Flags}}
   {{.}}{{end}}{{end}}

{{index .Metadata "footer"}}
`

const parentHelpTemplate = `NAME:
   {{.HelpName}}{{if .Usage}} - {{.Usage}}{{end}}

USAGE:
   {{.UsageText}}{{if .Description}}

DESCRIPTION:
   {{wrap .Description 3}}{{end}}

SUBCOMMANDS:{{range .VisibleCommands}}
   {{.Name}}{{"\t"}}{{.Usage}}{{end}}

{{index .Metadata "footer"}}
`

func (c *Command) newApp(w io.Writer) *cli.App {
	return &cli.App{
		Name:            c.Name,
		HelpName:        c.fullName(),
		Usage:           c.Usage,
		Description:     c.Description,
		HideHelpCommand: true,
		Writer:          w,
		ErrWriter:       io.Discard,
		// urfave/cli would call os.Exit for errors that carry exit codes; the caller decides.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return UsageError{Err: errors.New(oneLine(err.Error()))}
		},
	}
}

func (c *Command) leafApp(run *parseRun, w io.Writer) *cli.App {
	app := c.newApp(w)
	app.UsageText = c.usageLine()
	app.CustomAppHelpTemplate = leafHelpTemplate
	var args []string
	for _, p := range c.positionals {
		args = append(args, "<"+p.tomlKey+">\t"+describeOption(p))
	}
	var groups []helpGroup
	for _, g := range c.Groups {
		hg := helpGroup{Title: g.Title}
		for _, d := range g.Decls {
			s := d.decl()
			if s.positional {
				continue
			}
			f := &cliFlag{s: s, run: run, category: g.Title}
			app.Flags = append(app.Flags, f)
			if !s.hidden {
				hg.Flags = append(hg.Flags, f)
			}
		}
		if len(hg.Flags) > 0 {
			groups = append(groups, hg)
		}
	}
	cfg := &cliFlag{s: c.config, run: run, category: "General"}
	app.Flags = append(app.Flags, cfg)
	groups = append(groups, helpGroup{Title: "General", Flags: []cli.Flag{cfg, cli.HelpFlag}})
	app.Metadata = map[string]any{
		"arguments": args,
		"groups":    groups,
		"footer": fmt.Sprintf("A --config TOML file sets options in %s, keyed by the long name with \"-\"\n"+
			"replaced by \"_\" (e.g. %s). Precedence: command line, then environment variables,\n"+
			"then the file, then the defaults.", c.sectionRef(), c.exampleKey()),
	}
	app.Action = func(ctx *cli.Context) error {
		run.ran = true
		run.args = ctx.Args().Slice()
		return nil
	}
	return app
}

func (c *Command) exampleKey() string {
	for _, s := range c.specs {
		if !s.positional && !s.hidden && strings.Contains(s.tomlKey, "_") && len(s.keys()) > 0 {
			return s.tomlKey
		}
	}
	if len(c.keyList) > 0 {
		return c.keyList[0]
	}
	return "some_option"
}

func (c *Command) parentApp(w io.Writer) *cli.App {
	app := c.newApp(w)
	app.CustomAppHelpTemplate = parentHelpTemplate
	app.UsageText = c.Name + " <subcommand> [options]" + sharedPositionals(c.Subcommands)
	for _, sub := range c.Subcommands {
		app.Commands = append(app.Commands, &cli.Command{Name: sub.Name, Usage: sub.Usage})
	}
	footer := fmt.Sprintf("Run \"%s <subcommand> --help\" for the options of a subcommand.", c.Name)
	if c.Section != "" {
		footer += fmt.Sprintf("\nWith --config FILE the options come from the [[%s]] entry whose type is the subcommand.", c.Section)
	}
	app.Metadata = map[string]any{"footer": footer}
	return app
}

// runHelpApp makes urfave/cli render the help text of app.
func (c *Command) runHelpApp(app *cli.App) error {
	if err := app.Run([]string{c.Name, "--help"}); err != nil {
		return fmt.Errorf("printing help: %w", err)
	}
	return nil
}

// sharedPositionals renders the positional arguments when every subcommand takes the same
// ones (all worker managers take <scheduler_address>), else a generic placeholder.
func sharedPositionals(subs []*Command) string {
	render := func(c *Command) string {
		line := c.usageLine()
		return line[len(c.fullName()+" [options]"):]
	}
	if len(subs) == 0 {
		return ""
	}
	first := render(subs[0])
	for _, s := range subs[1:] {
		if render(s) != first {
			return " [arguments]"
		}
	}
	return first
}
