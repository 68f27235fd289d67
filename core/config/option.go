package config

import (
	"strings"

	"github.com/scaler-go/scaler/core/config/address"
)

// Source tells where an option got its value.
type Source int

// The sources, in increasing precedence.
const (
	FromDefault Source = iota
	FromFile
	FromEnv
	FromCommandLine
)

// String names the source for logs and golden files.
func (s Source) String() string {
	switch s {
	case FromFile:
		return "file"
	case FromEnv:
		return "env"
	case FromCommandLine:
		return "command line"
	default:
		return "default"
	}
}

// Decl is one declaration held by a Group: a typed *Option[T] or an Alias.
type Decl interface {
	decl() *spec
}

// value is the typed half of an option, implemented by *Option[T].
type value interface {
	reset()
	set(text string) error
	setTOML(v any) error
	check() error
	literal() string
	defaultText() string
	typeName() string
	isBool() bool
	accumulates() bool
}

// spec is the type-independent half of a declaration.
type spec struct {
	name        string   // long flag name, kebab-case; for positionals the source of the display name
	short       string   // single-dash alias such as "osa"; "" for none
	flagAliases []string // extra flag names, not shown in help
	tomlKey     string
	tomlAliases []string
	noTOML      bool
	env         string
	usage       string
	placeholder string
	defText     string
	hasDefText  bool
	positional  bool
	required    bool
	hidden      bool
	secret      bool   // its value is never shown in settings logs
	val         value  // nil for aliases and the implicit --config
	aliasOf     string // for Alias: long name of the option it writes
	target      *spec  // resolved aliasOf

	// State of the latest parse; Result reads it.
	source Source
	origin string // how the value was given, for messages: "--mode", "$X", "f.toml: [scheduler] mode"
}

func (s *spec) decl() *spec { return s }

// flagNames lists every name the flag answers to (without dashes), the long name first.
func (s *spec) flagNames() []string {
	if s.positional {
		return nil
	}
	names := []string{s.name}
	if s.short != "" {
		names = append(names, s.short)
	}
	return append(names, s.flagAliases...)
}

// keys lists the TOML keys of the option, primary key first.
func (s *spec) keys() []string {
	if s.noTOML || s.aliasOf != "" || s.val == nil {
		return nil
	}
	return append([]string{s.tomlKey}, s.tomlAliases...)
}

// display is how messages and help refer to the option.
func (s *spec) display() string {
	if s.positional {
		return s.tomlKey
	}
	return "--" + s.name
}

// Option is the declaration of one option bound to a destination of type T. Build it with the
// constructor for its type (Int, String, Address, ...) and refine it with the chained methods.
// Parse writes the default, then the TOML value, the environment value and the command-line
// value into the destination, in that order, so the last source present wins.
type Option[T any] struct {
	spec
	p      *T
	def    T
	c      codec[T]
	checks []func(T) error
}

// codec knows how to read, print and copy values of one type.
type codec[T any] struct {
	typeName string // placeholder in help, e.g. "INT"
	parse    func(string) (T, error)
	fromTOML func(any) (T, error)
	literal  func(T) string // TOML literal, for Settings
	show     func(T) string // default as shown in help; "" hides it
	clone    func(T) T      // deep copy for slices and maps, so a default is never aliased
	boolean  bool
	accum    bool // several occurrences on the command line add up (lists, maps)
}

func newOption[T any](p *T, name, short string, def T, usage string, c codec[T]) *Option[T] {
	o := &Option[T]{p: p, def: def, c: c}
	o.spec = spec{
		name:    name,
		short:   short,
		tomlKey: strings.ReplaceAll(name, "-", "_"),
		usage:   usage,
	}
	o.spec.val = o
	return o
}

func (o *Option[T]) decl() *spec { return &o.spec }

// Env names an environment variable that supplies the value when the command line does not.
func (o *Option[T]) Env(name string) *Option[T] { o.env = name; return o }

// Positional makes the option a positional argument (in declaration order); it can still be
// set from TOML under its key.
func (o *Option[T]) Positional() *Option[T] { o.positional = true; return o }

// Required makes a missing value an error. A value from TOML or the environment satisfies it.
func (o *Option[T]) Required() *Option[T] { o.required = true; return o }

// Hidden leaves the option out of the help text.
func (o *Option[T]) Hidden() *Option[T] { o.hidden = true; return o }

// Secret keeps the value out of the settings that commands log (credentials): Settings
// reports it as "<hidden>" when it is set.
func (o *Option[T]) Secret() *Option[T] { o.secret = true; return o }

// FlagAliases adds more flag names (without dashes) that set the option; help does not list them.
func (o *Option[T]) FlagAliases(names ...string) *Option[T] {
	o.flagAliases = append(o.flagAliases, names...)
	return o
}

// TOMLAliases adds more TOML keys for the option, e.g. an older name.
func (o *Option[T]) TOMLAliases(keys ...string) *Option[T] {
	for _, k := range keys {
		o.tomlAliases = append(o.tomlAliases, normalizeKey(k))
	}
	return o
}

// NoTOML keeps the option off the TOML file: only flags and the environment set it.
func (o *Option[T]) NoTOML() *Option[T] { o.noTOML = true; return o }

// Default replaces the default value given to the constructor.
func (o *Option[T]) Default(v T) *Option[T] { o.def = v; return o }

// DefaultText replaces the default shown in help, for defaults computed at run time
// (e.g. "number of CPUs").
func (o *Option[T]) DefaultText(s string) *Option[T] { o.defText, o.hasDefText = s, true; return o }

// Placeholder names the value in help, e.g. FILE instead of STRING.
func (o *Option[T]) Placeholder(s string) *Option[T] { o.placeholder = s; return o }

// Check adds validations run on the final value when it did not come from the default.
// A check returns an error phrased to follow the option name, e.g. "must not be 0".
func (o *Option[T]) Check(fns ...func(T) error) *Option[T] {
	o.checks = append(o.checks, fns...)
	return o
}

func (o *Option[T]) reset() {
	if o.p == nil {
		return
	}
	*o.p = o.clone(o.def)
}

func (o *Option[T]) clone(v T) T {
	if o.c.clone != nil {
		return o.c.clone(v)
	}
	return v
}

func (o *Option[T]) set(text string) error {
	v, err := o.c.parse(text)
	if err != nil {
		return err
	}
	*o.p = v
	return nil
}

func (o *Option[T]) setTOML(x any) error {
	v, err := o.c.fromTOML(x)
	if err != nil {
		return err
	}
	*o.p = v
	return nil
}

func (o *Option[T]) check() error {
	for _, fn := range o.checks {
		if err := fn(*o.p); err != nil {
			return err
		}
	}
	return nil
}

func (o *Option[T]) literal() string { return o.c.literal(*o.p) }

func (o *Option[T]) defaultText() string {
	if o.hasDefText {
		return o.defText
	}
	return o.c.show(o.def)
}

func (o *Option[T]) typeName() string {
	if o.placeholder != "" {
		return o.placeholder
	}
	return o.c.typeName
}

func (o *Option[T]) isBool() bool      { return o.c.boolean }
func (o *Option[T]) accumulates() bool { return o.c.accum }

// String declares a string option.
func String(p *string, name, short, def, usage string) *Option[string] {
	return newOption(p, name, short, def, usage, stringCodec)
}

// Text declares a free-form, possibly multi-line text option (e.g. a waterfall policy); in TOML
// it may also be an array of lines.
func Text(p *string, name, short, def, usage string) *Option[string] {
	return newOption(p, name, short, def, usage, textCodec)
}

// Int declares an int option.
func Int(p *int, name, short string, def int, usage string) *Option[int] {
	return newOption(p, name, short, def, usage, intCodec)
}

// Int64 declares an int64 option.
func Int64(p *int64, name, short string, def int64, usage string) *Option[int64] {
	return newOption(p, name, short, def, usage, int64Codec)
}

// Uint64 declares a uint64 option, e.g. a byte threshold.
func Uint64(p *uint64, name, short string, def uint64, usage string) *Option[uint64] {
	return newOption(p, name, short, def, usage, uint64Codec)
}

// Float declares a float64 option.
func Float(p *float64, name, short string, def float64, usage string) *Option[float64] {
	return newOption(p, name, short, def, usage, floatCodec)
}

// Bool declares a presence flag such as -p: given alone it means true, --x=false is accepted,
// and TOML takes true/false. The default is false.
func Bool(p *bool, name, short, usage string) *Option[bool] {
	return newOption(p, name, short, false, usage, boolCodec)
}

// Enum declares a choice among fixed, case-sensitive values.
func Enum[S ~string](p *S, name, short string, def S, choices []S, usage string) *Option[S] {
	return newOption(p, name, short, def, usage, enumCodec(choices))
}

// Address declares a transport address (core/config/address grammar); the zero Address means
// unset.
func Address(p *address.Address, name, short, usage string) *Option[address.Address] {
	return newOption(p, name, short, address.Address{}, usage, addressCodec)
}

// Strings declares a list: comma-separated on the command line (repeating the flag adds
// items), a TOML array or comma-separated string; empty items are dropped.
func Strings(p *[]string, name, short string, def []string, usage string) *Option[[]string] {
	return newOption(p, name, short, def, usage, stringsCodec)
}

// Map declares KEY=VALUE pairs: "K=V,K2=V2" (split at the first "="), a TOML table, or an array
// of "K=V" strings.
func Map(p *map[string]string, name, short, usage string) *Option[map[string]string] {
	return newOption(p, name, short, nil, usage, mapCodec)
}

// Capabilities declares worker capabilities "name[=int],...": a bare name means -1 (unlimited).
// TOML takes the same string, an array of such items, or a table of integers.
func Capabilities(p *map[string]int, name, short, usage string) *Option[map[string]int] {
	return newOption(p, name, short, nil, usage, capabilitiesCodec)
}

// aliasDecl is a hidden flag that writes another option of the same command.
type aliasDecl struct{ spec }

// Alias declares a hidden flag (long name and optional short alias) that sets the option whose
// long name is target, e.g. Alias("num-of-workers", "n", "max-task-concurrency"). It has no TOML
// key. Both may be given; the last one on the command line wins.
func Alias(name, short, target string) Decl {
	return &aliasDecl{spec{name: name, short: short, aliasOf: target, hidden: true, noTOML: true}}
}

func (a *aliasDecl) decl() *spec { return &a.spec }
