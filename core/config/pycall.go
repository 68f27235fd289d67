package config

import (
	"fmt"
	"strings"
)

// PythonCall is a parsed preload specification: `module.path:func` or
// `module.path:func(arg, kw=val)` (spec/protocol.md §9.8).
type PythonCall struct {
	// Module is the part before the first ':' (empty when there is none).
	Module string
	// Func is the function name.
	Func string
	// Args and Kwargs are the literal arguments.
	Args   []any
	Kwargs map[string]any
	// HasCall reports whether parentheses were given (`f()` versus `f`).
	HasCall bool
}

// ParsePythonCall parses a preload specification. Arguments must be Python literals
// (numbers, strings, tuples, lists, dicts, True/False/None); names are refused, so a
// specification can never run code.
func ParsePythonCall(spec string) (PythonCall, error) {
	var c PythonCall
	expr := strings.TrimSpace(spec)
	if mod, rest, ok := strings.Cut(expr, ":"); ok {
		c.Module, expr = strings.TrimSpace(mod), strings.TrimSpace(rest)
		if strings.HasSuffix(c.Module, ".py") {
			return c, fmt.Errorf("preload %q: give the module in dotted form (package.module), not a .py path", spec)
		}
	}
	p := &pyParser{s: expr}
	c.Func = p.ident()
	if c.Func == "" {
		return c, fmt.Errorf("preload %q: expected a function name", spec)
	}
	p.space()
	if p.i == len(p.s) {
		return c, nil
	}
	if p.s[p.i] != '(' {
		return c, fmt.Errorf("preload %q: unexpected %q after the function name", spec, p.rest())
	}
	c.HasCall = true
	p.i++
	for {
		p.space()
		if p.i < len(p.s) && p.s[p.i] == ')' {
			p.i++
			break
		}
		// A keyword argument is NAME '=' VALUE (not '==').
		save := p.i
		key := p.ident()
		p.space()
		isKw := key != "" && p.i < len(p.s) && p.s[p.i] == '=' && (p.i+1 >= len(p.s) || p.s[p.i+1] != '=')
		if isKw {
			p.i++
		} else {
			p.i = save
		}
		v, err := p.value(0)
		if err != nil {
			return c, fmt.Errorf("preload %q: %w", spec, err)
		}
		if n, ok := v.(pyName); ok {
			return c, fmt.Errorf("preload %q: argument %s is not a literal", spec, string(n))
		}
		if isKw {
			if c.Kwargs == nil {
				c.Kwargs = map[string]any{}
			}
			c.Kwargs[key] = v
		} else {
			if c.Kwargs != nil {
				return c, fmt.Errorf("preload %q: positional argument after keyword argument", spec)
			}
			c.Args = append(c.Args, v)
		}
		p.space()
		if p.i >= len(p.s) {
			return c, fmt.Errorf("preload %q: missing ')'", spec)
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case ')':
		default:
			return c, fmt.Errorf("preload %q: expected ',' or ')' at %q", spec, p.rest())
		}
	}
	p.space()
	if p.i != len(p.s) {
		return c, fmt.Errorf("preload %q: unexpected %q after the call", spec, p.rest())
	}
	return c, nil
}

// ident reads a Python identifier, possibly empty.
func (p *pyParser) ident() string {
	start := p.i
	for p.i < len(p.s) && isIdentByte(p.s[p.i], p.i == start) {
		p.i++
	}
	return p.s[start:p.i]
}

func isIdentByte(b byte, first bool) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || !first && b >= '0' && b <= '9'
}
