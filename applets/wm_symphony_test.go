package applets

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scaler-go/scaler/core/config"
	"github.com/scaler-go/scaler/core/protocol"
)

func parseSymphony(t *testing.T, args []string) (*managerBinding, *config.Result, error) {
	t.Helper()
	cmd, bindings := workerManagerCommand()
	res, err := cmd.Parse(append([]string{"symphony"}, args...), config.ParseOptions{LookupEnv: func(string) (string, bool) { return "", false }})
	return bindings["symphony"], res, err
}

func TestSymphonyOptionDefaults(t *testing.T) {
	b, _, err := parseSymphony(t, []string{"tcp://127.0.0.1:6378", "-wmi", "wm-symphony", "-sn", "ScalerService"})
	if err != nil {
		t.Fatal(err)
	}
	o := b.adapter.(*symphonyOptions)
	want := symphonyOptions{ServiceName: "ScalerService", URL: "https://localhost:8050", User: "Guest", Auth: "login",
		SessionType: "RecoverableAllHistoricalData", Payload: "wrapped", PollInterval: 0.5}
	if *o != want {
		t.Fatalf("options %+v\nwant    %+v", *o, want)
	}
}

func TestSymphonyOptionErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"tcp://h:1", "-wmi", "w"}, "--service-name"},
		{[]string{"tcp://h:1", "-wmi", "w", "-sn", ""}, "--service-name"},
		{[]string{"tcp://h:1", "-wmi", "w", "-sn", "S", "--symrest-url", "master:8050"}, "must look like https://host:port"},
		{[]string{"tcp://h:1", "-wmi", "w", "-sn", "S", "--symphony-auth", "kerberos"}, "login"},
		{[]string{"tcp://h:1", "-wmi", "w", "-sn", "S", "--symphony-payload", "json"}, "wrapped"},
		{[]string{"tcp://h:1", "-wmi", "w", "-sn", "S", "--symphony-password", "x"}, "symphony-password"},
	}
	for _, c := range cases {
		_, _, err := parseSymphony(t, c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
}

// The seed's [[worker_manager]] entry works as written, the SYMREST keys are TOML keys, and
// a misspelt one gets a suggestion.
func TestSymphonyTOML(t *testing.T) {
	text := `[[worker_manager]]
type = "symphony"
scheduler_address = "tcp://127.0.0.1:6378"
worker_manager_id = "wm-symphony"
service_name = "ScalerService"
symrest_url = "https://master:8050"
symphony_user = "alice"
symphony_password_file = "/etc/scaler/symphony.pw"
symrest_ca_file = "/etc/scaler/ca.pem"
symphony_auth = "basic"
symrest_ulr = "x"
`
	f, err := config.ParseFile("wm.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	cmd, bindings := workerManagerCommand()
	res, err := cmd.ParseTable(f.WorkerManagers[0], config.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	o := bindings["symphony"].adapter.(*symphonyOptions)
	if o.ServiceName != "ScalerService" || o.URL != "https://master:8050" || o.User != "alice" || o.Auth != "basic" ||
		o.PasswordFile != "/etc/scaler/symphony.pw" || o.CAFile != "/etc/scaler/ca.pem" {
		t.Fatalf("options %+v", *o)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0].String(), `did you mean "symrest_url"`) {
		t.Fatalf("warnings %v", res.Warnings)
	}
	// The password is never an option, so it never reaches the logged settings.
	for _, s := range res.Settings() {
		if strings.Contains(s.Key, "password") && s.Key != "symphony_password_file" {
			t.Fatalf("setting %v", s)
		}
	}
}

func TestSymphonyPassword(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, crlf, empty := write("good", "s3cret\nignored\n"), write("crlf", "pw\r\n"), write("empty", "\nx")
	cases := []struct {
		name, user, file, env, want, err string
	}{
		{name: "env", user: "alice", env: "from-env", want: "from-env"},
		{name: "file", user: "alice", file: good, want: "s3cret"},
		{name: "file with CRLF", user: "alice", file: crlf, want: "pw"},
		{name: "guest default", user: "Guest", want: "Guest"},
		{name: "guest with env", user: "Guest", env: "other", want: "other"},
		{name: "none", user: "alice", err: `no password for Symphony user "alice"`},
		{name: "both", user: "alice", file: good, env: "x", err: "not both"},
		{name: "missing file", user: "alice", file: filepath.Join(dir, "nope"), err: "--symphony-password-file"},
		{name: "empty first line", user: "alice", file: empty, err: "first line is empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(symphonyPasswordEnv, c.env)
			o := &symphonyOptions{User: c.user, PasswordFile: c.file}
			got, err := o.password()
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("%q %v, want %q", got, err, c.want)
			}
		})
	}
}

func TestWithPython(t *testing.T) {
	got := withPython([]protocol.Capability{{Name: "gpu", Value: 2}})
	if len(got) != 2 || got[1] != (protocol.Capability{Name: "python", Value: -1}) {
		t.Fatalf("%v", got)
	}
	own := []protocol.Capability{{Name: "python", Value: 3}}
	if got := withPython(own); len(got) != 1 || got[0].Value != 3 {
		t.Fatalf("a configured python capability was changed: %v", got)
	}
}
