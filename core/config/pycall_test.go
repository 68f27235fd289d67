package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestParsePythonCall(t *testing.T) {
	tests := []struct {
		in   string
		want PythonCall
		err  string
	}{
		{in: "mypackage.init:setup", want: PythonCall{Module: "mypackage.init", Func: "setup"}},
		{in: "mypackage.init:configure('production', debug=False)", want: PythonCall{Module: "mypackage.init", Func: "configure",
			Args: []any{"production"}, Kwargs: map[string]any{"debug": false}, HasCall: true}},
		{in: "setup()", want: PythonCall{Func: "setup", HasCall: true}},
		{in: "m:f(1, 2.5, [1, 'a'], {'k': None})", want: PythonCall{Module: "m", Func: "f", HasCall: true,
			Args: []any{int64(1), 2.5, []any{int64(1), "a"}, map[string]any{"k": nil}}}},
		{in: "m:f(os.system)", err: "not a literal"},
		{in: "m:f(a=1, 2)", err: "positional argument after keyword"},
		{in: "m:f(1", err: "missing"},
		{in: "init.py:setup", err: "dotted form"},
		{in: "m:", err: "function name"},
		{in: "m:f() x", err: "after the call"},
	}
	for _, tt := range tests {
		got, err := ParsePythonCall(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q = %#v, %v; want %#v", tt.in, got, err, tt.want)
		}
	}
}
