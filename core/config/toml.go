package config

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// The TOML sections the launcher recognises, in the order it starts them.
const (
	SectionObjectStorageServer = "object_storage_server"
	SectionScheduler           = "scheduler"
	SectionWorkerManager       = "worker_manager"
	SectionGUI                 = "gui"
	SectionTop                 = "top"
)

var recognisedSections = []string{
	SectionObjectStorageServer, SectionScheduler, SectionWorkerManager, SectionGUI, SectionTop,
}

// Table is one TOML table that configures one command: a [section] or one [[worker_manager]]
// entry.
type Table struct {
	// File is the path of the TOML file, for messages.
	File string
	// Section is the section name, e.g. "scheduler" or "worker_manager".
	Section string
	// Index is the 1-based position of a [[worker_manager]] entry, 0 for a plain table.
	Index int
	// Type is the "type" of a [[worker_manager]] entry.
	Type string
	// Values are the decoded keys and values.
	Values map[string]any
}

// Label names the table in messages: "[scheduler]" or `[[worker_manager]] #2 (type "aws_hpc")`.
func (t *Table) Label() string {
	if t.Section == "" {
		return "(top level)"
	}
	if t.Index == 0 {
		return "[" + t.Section + "]"
	}
	return fmt.Sprintf("[[%s]] #%d (type %q)", t.Section, t.Index, t.Type)
}

// File is a whole TOML file as the launcher (`scaler FILE.toml`) reads it.
type File struct {
	// Path is where the file was read from.
	Path string
	// The plain sections; nil when absent.
	Scheduler, ObjectStorageServer, Top, GUI *Table
	// WorkerManagers are the [[worker_manager]] entries in file order (a single
	// [worker_manager] table counts as one entry).
	WorkerManagers []*Table
	// Warnings list unknown top-level keys and sections.
	Warnings []Warning
}

// Sections lists the recognised sections present, in start order: object_storage_server,
// scheduler, worker_manager, gui, top.
func (f *File) Sections() []string {
	var out []string
	present := map[string]bool{
		SectionObjectStorageServer: f.ObjectStorageServer != nil,
		SectionScheduler:           f.Scheduler != nil,
		SectionWorkerManager:       len(f.WorkerManagers) > 0,
		SectionGUI:                 f.GUI != nil,
		SectionTop:                 f.Top != nil,
	}
	for _, s := range recognisedSections {
		if present[s] {
			out = append(out, s)
		}
	}
	return out
}

// LoadFile reads and decodes a launcher file; see ParseFile.
func LoadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	return ParseFile(path, data)
}

// ParseFile decodes a launcher file held in memory. A file with none of the recognised
// sections is an error wrapping ErrNoSections; a [[worker_manager]] entry needs a string
// "type". Unknown top-level keys become warnings.
func ParseFile(path string, data []byte) (*File, error) {
	doc, err := decodeTOML(path, data)
	if err != nil {
		return nil, err
	}
	f := &File{Path: path}
	for _, k := range sortedKeys(doc) {
		v := doc[k]
		var dst **Table
		switch k {
		case SectionScheduler:
			dst = &f.Scheduler
		case SectionObjectStorageServer:
			dst = &f.ObjectStorageServer
		case SectionTop:
			dst = &f.Top
		case SectionGUI:
			dst = &f.GUI
		case SectionWorkerManager:
			entries, err := arrayEntries(path, k, v)
			if err != nil {
				return nil, err
			}
			for _, e := range entries {
				if _, ok := e.Values["type"]; !ok {
					return nil, fmt.Errorf("%s: [[%s]] #%d has no \"type\" key", path, k, e.Index)
				}
				if e.Type == "" {
					return nil, fmt.Errorf("%s: [[%s]] #%d: \"type\" must be a non-empty string, got %s", path, k, e.Index, describe(e.Values["type"]))
				}
			}
			f.WorkerManagers = entries
			continue
		default:
			f.Warnings = append(f.Warnings, topLevelWarning(path, k, v, recognisedSections, SectionScheduler))
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: [%s] must be a table, got %s", path, k, describe(v))
		}
		*dst = &Table{File: path, Section: k, Values: m}
	}
	if len(f.Sections()) == 0 {
		return nil, fmt.Errorf("%s: %w", path, ErrNoSections)
	}
	return f, nil
}

// topLevelWarning describes an unknown top-level key: a section nobody reads, or a bare key
// that was probably meant to go inside home.
func topLevelWarning(path, key string, v any, candidates []string, home string) Warning {
	w := Warning{File: path, Key: key}
	switch v.(type) {
	case map[string]any:
		w.Message = fmt.Sprintf("unknown section [%s] ignored", tableKey(key))
	case []map[string]any:
		w.Message = fmt.Sprintf("unknown section [[%s]] ignored", tableKey(key))
	default:
		w.Message = fmt.Sprintf("key %q outside any section ignored (options belong in a section such as [%s])", key, home)
		return w
	}
	w.Suggestion = suggest(normalizeKey(key), candidates)
	return w
}

// decodeTOML parses a file into generic tables. Parse errors keep the line and column so the
// user can find the spot, on one line.
func decodeTOML(path string, data []byte) (map[string]any, error) {
	var doc map[string]any
	if _, err := toml.Decode(string(data), &doc); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s:%d: %s", path, pe.Position.Line, oneLine(pe.Message))
		}
		return nil, fmt.Errorf("%s: %s", path, oneLine(err.Error()))
	}
	return doc, nil
}

// arrayEntries reads [[name]] entries; a single [name] table is one entry, as in the
// Python launcher.
func arrayEntries(path, name string, v any) ([]*Table, error) {
	var raw []any
	switch x := v.(type) {
	case []map[string]any:
		for _, m := range x {
			raw = append(raw, m)
		}
	case []any:
		raw = x
	case map[string]any:
		raw = []any{x}
	default:
		return nil, fmt.Errorf("%s: %s must be [[%s]] tables, got %s", path, name, name, describe(v))
	}
	out := make([]*Table, 0, len(raw))
	for i, e := range raw {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: [[%s]] #%d must be a table, got %s", path, name, i+1, describe(e))
		}
		typ, _ := m["type"].(string)
		out = append(out, &Table{File: path, Section: name, Index: i + 1, Type: typ, Values: m})
	}
	return out, nil
}

func normalizeKey(k string) string { return strings.ReplaceAll(k, "-", "_") }

// loadTable reads the --config file and picks the command's table. A missing plain section
// is a warning (the command may get everything from the command line); for a subcommand,
// zero or several [[worker_manager]] entries of its type are errors.
func (c *Command) loadTable(path string, o ParseOptions) (*Table, []Warning, error) {
	data, err := o.readFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config file: %w", err)
	}
	doc, err := decodeTOML(path, data)
	if err != nil {
		return nil, nil, err
	}
	section := c.sectionName()
	if section == "" {
		// A command without a section reads the whole file as its table.
		return &Table{File: path, Values: doc}, nil, nil
	}
	known := recognisedSections
	if !slices.Contains(known, section) {
		known = append(slices.Clone(known), section)
	}
	var warnings []Warning
	for _, k := range sortedKeys(doc) {
		if !slices.Contains(known, k) {
			warnings = append(warnings, topLevelWarning(path, k, doc[k], known, section))
		}
	}
	v, ok := doc[section]
	if c.isTyped() {
		if !ok {
			return nil, warnings, fmt.Errorf("no worker manager of type '%s' found in %s (it has no [[%s]] entries)", c.Name, path, section)
		}
		entries, err := arrayEntries(path, section, v)
		if err != nil {
			return nil, warnings, err
		}
		var match []*Table
		var types []string
		for _, e := range entries {
			if e.Type == c.Name {
				match = append(match, e)
			} else if e.Type != "" && !slices.Contains(types, e.Type) {
				types = append(types, e.Type)
			}
		}
		switch len(match) {
		case 0:
			msg := fmt.Sprintf("no worker manager of type '%s' found in %s", c.Name, path)
			if len(types) > 0 {
				msg += fmt.Sprintf(" (types present: %s)", strings.Join(types, ", "))
			}
			return nil, warnings, errors.New(msg)
		case 1:
			return match[0], warnings, nil
		default:
			return nil, warnings, fmt.Errorf("%d worker managers of type '%s' found in %s, expected exactly one", len(match), c.Name, path)
		}
	}
	if !ok {
		w := Warning{File: path, Message: fmt.Sprintf("no [%s] section; nothing was read from the file", section)}
		var tables []string
		for k, x := range doc {
			if _, isTable := x.(map[string]any); isTable && !slices.Contains(recognisedSections, k) {
				tables = append(tables, k)
			}
		}
		slices.Sort(tables)
		if s := suggest(section, tables); s != "" {
			w.Message = fmt.Sprintf("no [%s] section but a [%s] one; nothing was read from the file", section, tableKey(s))
		}
		return nil, append(warnings, w), nil
	}
	m, isTable := v.(map[string]any)
	if !isTable {
		return nil, warnings, fmt.Errorf("%s: [%s] must be a table, got %s", path, section, describe(v))
	}
	return &Table{File: path, Section: section, Values: m}, warnings, nil
}

// applyTable writes the table's values into the options. Keys are matched with "-" and "_"
// interchangeable; unknown keys become warnings with the nearest valid key.
func (c *Command) applyTable(t *Table) ([]Warning, error) {
	var warnings []Warning
	given := map[*spec]string{}
	for _, k := range sortedKeys(t.Values) {
		if k == "type" && t.Index > 0 {
			continue // the entry's selector, consumed by the caller
		}
		nk := normalizeKey(k)
		s := c.keys[nk]
		if s == nil {
			warnings = append(warnings, Warning{
				File: t.File, Section: t.Label(), Key: k,
				Message:    fmt.Sprintf("unknown key %q ignored", k),
				Suggestion: suggest(nk, c.keyList),
			})
			continue
		}
		if prev, dup := given[s]; dup {
			return warnings, fmt.Errorf("%s: %s: %s and %s set the same option", t.File, t.Label(), prev, k)
		}
		given[s] = k
		origin := fmt.Sprintf("%s: %s %s", t.File, t.Label(), k)
		if err := s.val.setTOML(t.Values[k]); err != nil {
			return warnings, fmt.Errorf("%s: %w", origin, err)
		}
		s.source, s.origin = FromFile, origin
	}
	return warnings, nil
}
