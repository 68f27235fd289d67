package config

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scaler-go/scaler/core/config/address"
)

// describe names the type and value of a decoded TOML value for type-mismatch errors.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("string %q", x)
	case int64:
		return fmt.Sprintf("integer %d", x)
	case float64:
		return fmt.Sprintf("float %v", x)
	case bool:
		return fmt.Sprintf("boolean %v", x)
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	case time.Time:
		return "a date-time"
	case nil:
		return "nothing"
	default:
		return fmt.Sprintf("a %T", v) // toml.LocalDate and friends
	}
}

func wrongType(want string, got any) error {
	return fmt.Errorf("expected %s, got %s", want, describe(got))
}

func quote(s string) string { return strconv.Quote(s) }

var stringCodec = codec[string]{
	typeName: "STRING",
	parse:    func(s string) (string, error) { return s, nil },
	fromTOML: func(v any) (string, error) {
		if s, ok := v.(string); ok {
			return s, nil
		}
		return "", wrongType("a string", v)
	},
	literal: quote,
	show:    func(s string) string { return s },
}

var textCodec = codec[string]{
	typeName: "TEXT",
	parse:    func(s string) (string, error) { return s, nil },
	fromTOML: func(v any) (string, error) {
		switch x := v.(type) {
		case string:
			return x, nil
		case []any:
			lines, err := stringItems(x)
			if err != nil {
				return "", err
			}
			return strings.Join(lines, "\n"), nil
		}
		return "", wrongType("a string or an array of lines", v)
	},
	literal: quote,
	// A multi-line default would break the help layout, so it is shown quoted on one line.
	show: func(s string) string {
		if s == "" {
			return ""
		}
		return quote(s)
	},
}

// intText prepares command-line integer text for strconv: Python's int() accepts surrounding
// blanks and digit-group underscores; so do we.
func intText(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "_", "") }

// intError words a strconv failure on s, which is not what (e.g. "an integer").
func intError(s string, err error, what string) error {
	if errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("%q is out of range", s)
	}
	return fmt.Errorf("%q is not %s", s, what)
}

func parseInt(s string, bits int) (int64, error) {
	n, err := strconv.ParseInt(intText(s), 10, bits)
	if err != nil {
		return 0, intError(s, err, "an integer")
	}
	return n, nil
}

func tomlInt(v any, lo, hi int64) (int64, error) {
	n, ok := v.(int64)
	if !ok {
		return 0, wrongType("an integer", v)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d is out of range", n)
	}
	return n, nil
}

var intCodec = codec[int]{
	typeName: "INT",
	parse: func(s string) (int, error) {
		n, err := parseInt(s, strconv.IntSize)
		return int(n), err
	},
	fromTOML: func(v any) (int, error) {
		n, err := tomlInt(v, math.MinInt, math.MaxInt)
		return int(n), err
	},
	literal: strconv.Itoa,
	show:    strconv.Itoa,
}

var int64Codec = codec[int64]{
	typeName: "INT",
	parse:    func(s string) (int64, error) { return parseInt(s, 64) },
	fromTOML: func(v any) (int64, error) { return tomlInt(v, math.MinInt64, math.MaxInt64) },
	literal:  func(n int64) string { return strconv.FormatInt(n, 10) },
	show:     func(n int64) string { return strconv.FormatInt(n, 10) },
}

var uint64Codec = codec[uint64]{
	typeName: "INT",
	parse: func(s string) (uint64, error) {
		n, err := strconv.ParseUint(intText(s), 10, 64)
		if err != nil {
			return 0, intError(s, err, "a non-negative integer")
		}
		return n, nil
	},
	fromTOML: func(v any) (uint64, error) {
		n, ok := v.(int64)
		if !ok {
			return 0, wrongType("an integer", v)
		}
		if n < 0 {
			return 0, fmt.Errorf("%d is negative", n)
		}
		return uint64(n), nil
	},
	literal: func(n uint64) string { return strconv.FormatUint(n, 10) },
	show:    func(n uint64) string { return strconv.FormatUint(n, 10) },
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

var floatCodec = codec[float64]{
	typeName: "NUMBER",
	parse: func(s string) (float64, error) {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number", s)
		}
		return f, nil
	},
	fromTOML: func(v any) (float64, error) {
		switch x := v.(type) {
		case float64:
			return x, nil
		case int64:
			return float64(x), nil // "timeout = 5" is a float option written as an integer
		}
		return 0, wrongType("a number", v)
	},
	literal: func(f float64) string {
		s := formatFloat(f)
		if !strings.ContainsAny(s, ".eEnN") { // keep it a TOML float: 5 -> 5.0
			s += ".0"
		}
		return s
	},
	show: formatFloat,
}

var boolCodec = codec[bool]{
	parse: func(s string) (bool, error) {
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return false, fmt.Errorf("%q is not true or false", s)
		}
		return b, nil
	},
	fromTOML: func(v any) (bool, error) {
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return false, wrongType("true or false", v)
	},
	literal: strconv.FormatBool,
	show:    strconv.FormatBool,
	boolean: true,
}

func enumCodec[S ~string](choices []S) codec[S] {
	names := make([]string, len(choices))
	for i, c := range choices {
		names[i] = string(c)
	}
	list := strings.Join(names, ", ")
	parse := func(s string) (S, error) {
		if slices.Contains(names, s) {
			return S(s), nil
		}
		return "", fmt.Errorf("%q is not one of %s", s, list)
	}
	return codec[S]{
		typeName: strings.Join(names, "|"),
		parse:    parse,
		fromTOML: func(v any) (S, error) {
			s, ok := v.(string)
			if !ok {
				return "", wrongType("one of "+list, v)
			}
			return parse(s)
		},
		literal: func(s S) string { return quote(string(s)) },
		show:    func(s S) string { return string(s) },
	}
}

var addressCodec = codec[address.Address]{
	typeName: "ADDRESS",
	parse:    address.Parse,
	fromTOML: func(v any) (address.Address, error) {
		s, ok := v.(string)
		if !ok {
			return address.Address{}, wrongType("an address string", v)
		}
		return address.Parse(s)
	},
	literal: func(a address.Address) string {
		if a.IsZero() {
			return `""`
		}
		return quote(a.String())
	},
	show: func(a address.Address) string {
		if a.IsZero() {
			return ""
		}
		return a.String()
	},
}

// splitList splits on commas, trims blanks and drops empty items, as the Python project does
// for "subnet-a,subnet-b".
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func stringItems(arr []any) ([]string, error) {
	out := make([]string, 0, len(arr))
	for i, x := range arr {
		s, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("item %d: %w", i+1, wrongType("a string", x))
		}
		out = append(out, s)
	}
	return out, nil
}

func listLiteral(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

var stringsCodec = codec[[]string]{
	typeName: "A,B,...",
	parse:    func(s string) ([]string, error) { return splitList(s), nil },
	fromTOML: func(v any) ([]string, error) {
		switch x := v.(type) {
		case string:
			return splitList(x), nil
		case []any:
			items, err := stringItems(x)
			if err != nil {
				return nil, err
			}
			var out []string
			for _, s := range items {
				if s = strings.TrimSpace(s); s != "" {
					out = append(out, s)
				}
			}
			return out, nil
		}
		return nil, wrongType("an array of strings or a comma-separated string", v)
	},
	literal: listLiteral,
	show:    func(v []string) string { return strings.Join(v, ",") },
	clone:   slices.Clone[[]string],
	accum:   true,
}

func parsePairs(items []string) (map[string]string, error) {
	out := map[string]string{}
	for _, item := range items {
		k, v, ok := strings.Cut(item, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not KEY=VALUE", item)
		}
		out[k] = strings.TrimSpace(v)
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// joinSorted renders the entries of m in key order with item, separated by sep.
func joinSorted[V any](m map[string]V, sep string, item func(k string, v V) string) string {
	parts := make([]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		parts = append(parts, item(k, m[k]))
	}
	return strings.Join(parts, sep)
}

// tableKey prints a TOML key, quoted unless it is bare-safe.
func tableKey(k string) string {
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return quote(k)
		}
	}
	if k == "" {
		return `""`
	}
	return k
}

var mapCodec = codec[map[string]string]{
	typeName: "K=V,...",
	parse:    func(s string) (map[string]string, error) { return parsePairs(splitList(s)) },
	fromTOML: func(v any) (map[string]string, error) {
		switch x := v.(type) {
		case string:
			return parsePairs(splitList(x))
		case []any:
			items, err := stringItems(x)
			if err != nil {
				return nil, err
			}
			return parsePairs(items)
		case map[string]any:
			out := make(map[string]string, len(x))
			for k, val := range x {
				switch s := val.(type) {
				case string:
					out[k] = s
				case int64, float64, bool:
					out[k] = fmt.Sprint(s)
				default:
					return nil, fmt.Errorf("%s: %w", k, wrongType("a string", val))
				}
			}
			return out, nil
		}
		return nil, wrongType(`"K=V,..." or a table`, v)
	},
	literal: func(m map[string]string) string {
		return "{" + joinSorted(m, ", ", func(k, v string) string { return tableKey(k) + " = " + quote(v) }) + "}"
	},
	show: func(m map[string]string) string {
		return joinSorted(m, ",", func(k, v string) string { return k + "=" + v })
	},
	clone: maps.Clone[map[string]string],
	accum: true,
}

// parseCapabilities reads "name[=int],..."; a bare name stands for -1 ("unlimited"), which is
// what workers advertise for a capability without a count.
func parseCapabilities(items []string) (map[string]int, error) {
	out := map[string]int{}
	for _, item := range items {
		name, val, hasVal := strings.Cut(item, "=")
		name = strings.TrimSpace(name)
		if name == "" {
			return nil, fmt.Errorf("capability %q has an empty name", item)
		}
		n := -1
		if hasVal {
			v, err := strconv.Atoi(strings.TrimSpace(val))
			if err != nil {
				return nil, fmt.Errorf("capability %q: %q is not an integer", name, val)
			}
			n = v
		}
		out[name] = n
	}
	return out, nil
}

// capabilityItems splits the text form; unlike plain lists an empty item is an error, because
// "gpu,,linux" most likely lost a name.
func capabilityItems(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	items := strings.Split(s, ",")
	for i, item := range items {
		if strings.TrimSpace(item) == "" {
			return nil, fmt.Errorf("capability %d of %q has an empty name", i+1, s)
		}
	}
	return items, nil
}

var capabilitiesCodec = codec[map[string]int]{
	typeName: "NAME[=INT],...",
	parse: func(s string) (map[string]int, error) {
		items, err := capabilityItems(s)
		if err != nil {
			return nil, err
		}
		return parseCapabilities(items)
	},
	fromTOML: func(v any) (map[string]int, error) {
		switch x := v.(type) {
		case string:
			items, err := capabilityItems(x)
			if err != nil {
				return nil, err
			}
			return parseCapabilities(items)
		case []any:
			items, err := stringItems(x)
			if err != nil {
				return nil, err
			}
			return parseCapabilities(items)
		case map[string]any:
			out := make(map[string]int, len(x))
			for k, val := range x {
				if k == "" {
					return nil, errors.New("capability with an empty name")
				}
				n, err := tomlInt(val, math.MinInt, math.MaxInt)
				if err != nil {
					return nil, fmt.Errorf("capability %q: %w", k, err)
				}
				out[k] = int(n)
			}
			return out, nil
		}
		return nil, wrongType(`"name[=int],..." or a table of integers`, v)
	},
	literal: func(m map[string]int) string {
		return "{" + joinSorted(m, ", ", func(k string, n int) string { return tableKey(k) + " = " + strconv.Itoa(n) }) + "}"
	},
	show: func(m map[string]int) string {
		return joinSorted(m, ",", func(k string, n int) string { return k + "=" + strconv.Itoa(n) })
	},
	clone: maps.Clone[map[string]int],
	accum: true,
}
