package config

import (
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/config/address"
)

// allTypes declares one option of every type, each with a TOML key and a flag.
type allTypes struct {
	S    string
	Txt  string
	I    int
	I64  int64
	U64  uint64
	F    float64
	B    bool
	E    string
	A    address.Address
	L    []string
	M    map[string]string
	Caps map[string]int
}

func allTypesCommand(c *allTypes) *Command {
	return &Command{Name: "x", Section: "x", Groups: []*Group{NewGroup("All",
		String(&c.S, "s", "", "def", ""),
		Text(&c.Txt, "txt", "", "", ""),
		Int(&c.I, "i", "", 1, ""),
		Int64(&c.I64, "i64", "", 2, ""),
		Uint64(&c.U64, "u64", "", 3, ""),
		Float(&c.F, "f", "", 0.5, ""),
		Bool(&c.B, "b", "", ""),
		Enum(&c.E, "e", "", "dynamic", []string{"dynamic", "fixed"}, ""),
		Address(&c.A, "a", "", ""),
		Strings(&c.L, "l", "", []string{"x"}, ""),
		Map(&c.M, "m", "", ""),
		Capabilities(&c.Caps, "caps", "", ""),
	)}}
}

func TestValueTypes(t *testing.T) {
	tests := []struct {
		name    string
		flag    string // command-line value (flag given as --NAME=VALUE)
		toml    string // TOML value literal
		want    any    // expected destination value, for both sources unless wantCLI is set
		wantCLI any
		errCLI  string
		errTOML string
	}{
		{name: "s", flag: "hello", toml: `"hello"`, want: "hello"},
		{name: "s", toml: `1`, errTOML: "expected a string, got integer 1"},
		{name: "txt", flag: "a\nb", toml: `["a", "b"]`, want: "a\nb"},
		{name: "txt", toml: `"""a
b"""`, want: "a\nb"},
		{name: "txt", toml: `[1]`, errTOML: "item 1: expected a string, got integer 1"},
		{name: "i", flag: " 1_000 ", toml: `1_000`, want: 1000},
		{name: "i", flag: "1.5", toml: `1.5`, errCLI: `"1.5" is not an integer`, errTOML: "expected an integer, got float 1.5"},
		{name: "i", toml: `true`, errTOML: "expected an integer, got boolean true"},
		{name: "i64", flag: "-9223372036854775808", toml: `-9223372036854775808`, want: int64(math.MinInt64)},
		{name: "i64", flag: "9223372036854775808", errCLI: `"9223372036854775808" is out of range`},
		{name: "u64", flag: "18446744073709551615", want: uint64(math.MaxUint64)},
		{name: "u64", flag: "-1", toml: `-1`, errCLI: `"-1" is not a non-negative integer`, errTOML: "-1 is negative"},
		{name: "u64", toml: `1073741824`, want: uint64(1 << 30)},
		{name: "f", flag: "2.5", toml: `2.5`, want: 2.5},
		{name: "f", flag: "5", toml: `5`, want: 5.0},
		{name: "f", flag: "fast", toml: `"fast"`, errCLI: `"fast" is not a number`, errTOML: `expected a number, got string "fast"`},
		{name: "b", flag: "true", toml: `true`, want: true},
		{name: "b", flag: "0", toml: `false`, want: false},
		{name: "b", flag: "yes", toml: `"true"`, errCLI: `"yes" is not true or false`, errTOML: `expected true or false, got string "true"`},
		{name: "e", flag: "fixed", toml: `"fixed"`, want: "fixed"},
		{name: "e", flag: "FIXED", toml: `"Fixed"`, errCLI: `"FIXED" is not one of dynamic, fixed`, errTOML: `"Fixed" is not one of dynamic, fixed`},
		{name: "e", toml: `2`, errTOML: "expected one of dynamic, fixed, got integer 2"},
		{name: "a", flag: "ws://h:80/p", toml: `"ws://h:80/p"`, want: address.MustParse("ws://h:80/p")},
		{name: "a", flag: "ipc:///tmp/s", toml: `"ipc:///tmp/s"`, want: address.MustParse("ipc:///tmp/s")},
		{name: "a", flag: "udp://h:1", toml: `"udp://h:1"`, errCLI: `invalid address "udp://h:1": unknown scheme`, errTOML: `invalid address "udp://h:1": unknown scheme`},
		{name: "a", toml: `6378`, errTOML: "expected an address string, got integer 6378"},
		{name: "l", flag: "a, b,,c,", toml: `"a, b,,c,"`, want: []string{"a", "b", "c"}},
		{name: "l", toml: `["a", " ", "b"]`, want: []string{"a", "b"}},
		{name: "l", flag: "", toml: `[]`, want: []string(nil)},
		{name: "l", toml: `{a = 1}`, errTOML: "expected an array of strings or a comma-separated string, got a table"},
		{name: "m", flag: "K=V,K2=V=2,", toml: `"K=V,K2=V=2,"`, want: map[string]string{"K": "V", "K2": "V=2"}},
		{name: "m", toml: `["K=V"]`, want: map[string]string{"K": "V"}},
		{name: "m", toml: `{K = "V", N = 1, B = true}`, want: map[string]string{"K": "V", "N": "1", "B": "true"}},
		{name: "m", flag: "K", toml: `"=V"`, errCLI: `"K" is not KEY=VALUE`, errTOML: `"=V" is not KEY=VALUE`},
		{name: "m", toml: `{K = [1]}`, errTOML: "K: expected a string, got an array"},
		{name: "caps", flag: "gpu,linux=2, mem = 8", toml: `"gpu,linux=2, mem = 8"`, want: map[string]int{"gpu": -1, "linux": 2, "mem": 8}},
		{name: "caps", toml: `["gpu", "linux=2"]`, want: map[string]int{"gpu": -1, "linux": 2}},
		{name: "caps", toml: `{gpu = 4}`, want: map[string]int{"gpu": 4}},
		{name: "caps", flag: "", toml: `""`, want: map[string]int{}},
		{name: "caps", flag: "gpu=", toml: `"gpu=x"`, errCLI: `capability "gpu": "" is not an integer`, errTOML: `capability "gpu": "x" is not an integer`},
		{name: "caps", flag: ",gpu", toml: `{gpu = "1"}`, errCLI: `capability 1 of ",gpu" has an empty name`, errTOML: `capability "gpu": expected an integer, got string "1"`},
		{name: "caps", toml: `{"" = 1}`, errTOML: "capability with an empty name"},
		{name: "caps", toml: `[""]`, errTOML: `capability "" has an empty name`},
	}
	for _, tt := range tests {
		field := func(c *allTypes) any {
			v := reflect.ValueOf(c).Elem()
			for i := range v.NumField() {
				if strings.EqualFold(v.Type().Field(i).Name, strings.ReplaceAll(tt.name, "_", "")) {
					return v.Field(i).Interface()
				}
			}
			t.Fatalf("no field for %s", tt.name)
			return nil
		}
		if tt.flag != "" || tt.errCLI != "" || (tt.want != nil && tt.toml == "") {
			var c allTypes
			_, err := allTypesCommand(&c).Parse([]string{"--" + tt.name + "=" + tt.flag}, ParseOptions{Stdout: io.Discard})
			checkValue(t, "--"+tt.name+"="+tt.flag, err, tt.errCLI, "--"+tt.name+": ", field(&c), tt.want)
		}
		if tt.toml != "" {
			var c allTypes
			file := "[x]\n" + tt.name + " = " + tt.toml + "\n"
			_, err := allTypesCommand(&c).Parse([]string{"-c", "f.toml"}, ParseOptions{ReadFile: memFiles(map[string]string{"f.toml": file})})
			checkValue(t, "TOML "+tt.name+" = "+tt.toml, err, tt.errTOML, "f.toml: [x] "+tt.name+": ", field(&c), tt.want)
		}
	}
}

func checkValue(t *testing.T, what string, err error, wantErr, prefix string, got, want any) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.HasPrefix(err.Error(), prefix+wantErr) {
			t.Errorf("%s: err = %v, want %q", what, err, prefix+wantErr)
		}
		return
	}
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: got %#v, want %#v", what, got, want)
	}
}

func TestDefaultsAndLiterals(t *testing.T) {
	var c allTypes
	res, err := allTypesCommand(&c).Parse(nil, ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`s = "def"  # default`,
		`txt = ""  # default`,
		`i = 1  # default`,
		`i64 = 2  # default`,
		`u64 = 3  # default`,
		`f = 0.5  # default`,
		`b = false  # default`,
		`e = "dynamic"  # default`,
		`a = ""  # default`,
		`l = ["x"]  # default`,
		`m = {}  # default`,
		`caps = {}  # default`,
	}
	var got []string
	for _, s := range res.Settings() {
		got = append(got, s.String())
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("settings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	res, err = allTypesCommand(&c).Parse([]string{"--m", `a b=1,"q"=2`, "--caps", "x.y=1", "--txt", "a\"b", "--f", "1e300"}, ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lit := map[string]string{}
	for _, s := range res.Settings() {
		lit[s.Key] = s.Value
	}
	for k, v := range map[string]string{"m": `{"\"q\"" = "2", "a b" = "1"}`, "caps": `{"x.y" = 1}`, "txt": `"a\"b"`, "f": "1e+300"} {
		if lit[k] != v {
			t.Errorf("%s literal = %s, want %s", k, lit[k], v)
		}
	}
}

func TestChecks(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{Positive(1), ""},
		{Positive(0), "must be greater than 0, got 0"},
		{Positive(-0.5), "must be greater than 0, got -0.5"},
		{Positive(math.NaN()), "must be greater than 0, got NaN"},
		{NonNegative(0), ""},
		{NonNegative(-1), "must be 0 or more, got -1"},
		{NonZero(int64(-1)), ""},
		{NonZero(uint64(0)), "must not be 0"},
		{AtLeast(-1)(-1), ""},
		{AtLeast(-1)(-2), "must be -1 or more, got -2"},
		{NonEmpty("x"), ""},
		{NonEmpty(" \t"), "must not be empty"},
		{NonEmptyList([]string{"a"}), ""},
		{NonEmptyList(nil), "must name at least one item"},
		{HostPort("0.0.0.0:50001"), ""},
		{HostPort("[::1]:80"), ""},
		{HostPort("::1:80"), ""},
		{HostPort("localhost"), `"localhost" is not HOST:PORT`},
		{HostPort(":80"), `":80" is not HOST:PORT`},
		{HostPort("h:0"), `port "0" of "h:0" is not a number between 1 and 65535`},
		{HostPort("h:65536"), `port "65536" of "h:65536" is not a number between 1 and 65535`},
		{HostPort("h:http"), `port "http" of "h:http" is not a number between 1 and 65535`},
	}
	for i, tt := range tests {
		got := ""
		if tt.err != nil {
			got = tt.err.Error()
		}
		if got != tt.want {
			t.Errorf("#%d: %q, want %q", i, got, tt.want)
		}
	}
}

func TestDescribe(t *testing.T) {
	for v, want := range map[any]string{
		"x": `string "x"`, int64(1): "integer 1", 1.5: "float 1.5", true: "boolean true", nil: "nothing",
	} {
		if got := describe(v); got != want {
			t.Errorf("describe(%#v) = %q, want %q", v, got, want)
		}
	}
	if got := describe(time.Time{}); got != "a date-time" {
		t.Errorf("describe(time) = %q", got)
	}
}

// Credentials never reach the settings log, from whichever layer they come.
func TestSecretSettings(t *testing.T) {
	var key, user string
	cmd := func() *Command {
		return &Command{Name: "x", Groups: []*Group{NewGroup("G",
			String(&key, "secret-key", "", "", "a credential").Secret().Env("X_SECRET"),
			String(&user, "user", "", "", "not a secret"),
		)}}
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"flag", []string{"--secret-key", "hunter2", "--user", "alice"}, nil},
		{"env", []string{"--user", "alice"}, map[string]string{"X_SECRET": "hunter2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := cmd().Parse(tc.args, ParseOptions{LookupEnv: envMap(tc.env)})
			if err != nil {
				t.Fatal(err)
			}
			if key != "hunter2" {
				t.Fatalf("value not parsed: %q", key)
			}
			for _, s := range res.Settings() {
				if strings.Contains(s.String(), "hunter2") {
					t.Fatalf("secret in settings: %s", s)
				}
				if s.Key == "user" && s.Value != `"alice"` {
					t.Fatalf("user = %s", s.Value)
				}
				if s.Key == "secret_key" && s.Value != `"<hidden>"` {
					t.Fatalf("secret_key = %s", s.Value)
				}
			}
		})
	}
}
