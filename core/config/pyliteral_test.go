package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestParsePyLiteral(t *testing.T) {
	tests := []struct {
		in   string
		want any
		err  string
	}{
		{in: "()", want: []any{}},
		{in: "(sys.stdout,)", want: []any{pyName("sys.stdout")}},
		{in: "('a.log', 'a')", want: []any{"a.log", "a"}},
		{in: `("x\ty", 'it\'s', r'C:\logs\n')`, want: []any{"x\ty", "it's", `C:\logs\n`}},
		{in: `('C:\data\x.log',)`, want: []any{`C:\data\x.log`}},
		{in: "('f', 'midnight', 1, 0, None, False, True)", want: []any{"f", "midnight", int64(1), int64(0), nil, false, true}},
		{in: "(1_000, -2, +3, 1.5, -2e3)", want: []any{int64(1000), int64(-2), int64(3), 1.5, -2000.0}},
		{in: "('x')", want: "x"},
		{in: "[1, [2, (3,)]]", want: []any{int64(1), []any{int64(2), []any{int64(3)}}}},
		{in: "{'maxBytes': 10, \"backupCount\": 3,}", want: map[string]any{"maxBytes": int64(10), "backupCount": int64(3)}},
		{in: " ( 'a' , ) ", want: []any{"a"}},
		{in: "(", err: "unexpected end of expression"},
		{in: "('a'", err: "missing ')'"},
		{in: "('a' 'b')", err: "expected ',' or ')'"},
		{in: "'abc", err: "unterminated string"},
		{in: "{1: 2}", err: "dict keys must be strings"},
		{in: "{'a' 2}", err: `expected ':' after dict key "a"`},
		{in: "__import__('os')", err: "calls such as __import__(...) are not supported"},
		{in: "1.2.3", err: `bad number "1.2.3"`},
		{in: "('a',) junk", err: `unexpected "junk" at offset 7`},
		{in: "@", err: `unexpected "@" at offset 0`},
		{in: strings.Repeat("(", 100), err: "nested too deeply"},
	}
	for _, tt := range tests {
		got, err := parsePyLiteral(tt.in)
		if tt.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
				t.Errorf("%q: err = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}
