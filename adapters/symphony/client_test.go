package symphony_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scaler-go/scaler/adapters/symphony"
	"github.com/scaler-go/scaler/adapters/symphony/symresttest"
	"github.com/scaler-go/scaler/internal/pyclient"
	"github.com/scaler-go/scaler/internal/testbin"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newClient(t *testing.T, cfg symphony.ClientConfig) *symphony.Client {
	t.Helper()
	if cfg.Application == "" {
		cfg.Application = "ScalerService"
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet()
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	c, err := symphony.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// transcript renders recorded requests for a golden file: method, path, query, the
// credentials sent (never their values) and the JSON body indented; identical consecutive
// requests (polls) appear once.
func transcript(reqs []symresttest.Request) []byte {
	var b bytes.Buffer
	prev := ""
	for _, r := range reqs {
		var s strings.Builder
		fmt.Fprintf(&s, "%s %s", r.Method, r.Path)
		if r.Query != "" {
			s.WriteString("?" + r.Query)
		}
		var auth []string
		if r.BasicUser != "" {
			auth = append(auth, "basic="+r.BasicUser)
		}
		if r.Cookie {
			auth = append(auth, "cookie")
		}
		if r.CSRF != "" {
			auth = append(auth, "csrf")
		}
		if len(auth) > 0 {
			s.WriteString("  [" + strings.Join(auth, " ") + "]")
		}
		s.WriteString("\n")
		if len(r.Body) > 0 {
			var v any
			if err := json.Unmarshal(r.Body, &v); err != nil {
				s.WriteString("NOT JSON: " + string(r.Body) + "\n")
			} else {
				j, _ := json.MarshalIndent(v, "  ", "  ")
				s.WriteString("  " + string(j) + "\n")
			}
		}
		if s.String() != prev {
			b.WriteString(s.String())
		}
		prev = s.String()
	}
	return b.Bytes()
}

// waitOutputs polls until every id has an output.
func waitOutputs(t *testing.T, c *symphony.Client, session string, ids []string) map[string]symphony.TaskOutput {
	t.Helper()
	got := map[string]symphony.TaskOutput{}
	deadline := time.Now().Add(30 * time.Second)
	for len(got) < len(ids) {
		outs, err := c.Fetch(testCtx(t), session, ids)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range outs {
			got[o.ID] = o
		}
		if time.Now().After(deadline) {
			t.Fatalf("outputs %v after 30 s", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return got
}

// One session's life in login mode: the JSON the client sends is pinned by a golden file,
// and the tasks really run (in python3, behind the fake) and come back.
func TestClientGoldenLogin(t *testing.T) {
	pyclient.Require(t)
	fake := symresttest.Start(t, symresttest.Options{Users: map[string]string{"alice": "secret"}, NoBasic: true})
	c := newClient(t, symphony.ClientConfig{URL: fake.URL + "/platform/rest/symrest/v1/", User: "alice", Password: "secret"})
	ctx := testCtx(t)
	session, err := c.OpenSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ser := sample(t, "serializer.bin")
	sqrt, err := symphony.BuildInput(symphony.PayloadPlain, ser, sample(t, "func_math_sqrt.bin"), [][]byte{sample(t, "arg_16.bin")})
	if err != nil {
		t.Fatal(err)
	}
	div, err := symphony.BuildInput(symphony.PayloadPlain, ser, sample(t, "func_div_zero.bin"), [][]byte{sample(t, "arg_1.bin")})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := c.Submit(ctx, session, []symphony.TaskInput{{Tag: "task-a", Data: sqrt}, {Tag: "task-b", Data: div}})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids[0] == ids[1] {
		t.Fatalf("task ids %v", ids)
	}
	outs := waitOutputs(t, c, session, ids)
	if o := outs[ids[0]]; o.Error != "" || !bytes.Equal(o.Data, sample(t, "result_sqrt_16.bin")) {
		t.Fatalf("sqrt output %+v", o)
	}
	if o := outs[ids[1]]; !strings.Contains(o.Error, "ZeroDivisionError: division by zero") {
		t.Fatalf("div output %+v", o)
	}
	if err := c.CloseSession(ctx, session); err != nil {
		t.Fatal(err)
	}
	if fake.OpenSessions() != 0 {
		t.Fatal("session still open")
	}
	golden(t, "client_login.golden", transcript(fake.Requests()))
}

// HTTP Basic: no login, the credentials on every request.
func TestClientBasicAuth(t *testing.T) {
	fake := symresttest.Start(t, symresttest.Options{Users: map[string]string{"alice": "secret"}})
	c := newClient(t, symphony.ClientConfig{URL: fake.URL, User: "alice", Password: "secret", Auth: symphony.AuthBasic})
	ctx := testCtx(t)
	session, err := c.OpenSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Fetch(ctx, session, []string{"1"}); err != nil {
		t.Fatal(err)
	}
	for _, r := range fake.Requests() {
		if strings.HasSuffix(r.Path, "/auth/login") || r.BasicUser != "alice" || r.CSRF != "" {
			t.Fatalf("request %+v", r)
		}
	}
	golden(t, "client_basic.golden", transcript(fake.Requests()))
}

// An expired login (401) is renewed by logging in again, once, and the request retried.
func TestClientReloginOn401(t *testing.T) {
	fake := symresttest.Start(t, symresttest.Options{NoBasic: true})
	c := newClient(t, symphony.ClientConfig{URL: fake.URL, User: "Guest", Password: "Guest"})
	ctx := testCtx(t)
	session, err := c.OpenSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fake.ExpireLogins()
	if _, err := c.Fetch(ctx, session, []string{"1"}); err != nil {
		t.Fatalf("fetch after the login expired: %v", err)
	}
	golden(t, "client_relogin.golden", transcript(fake.Requests()))
	// Credentials that stop working are reported, not retried forever.
	fake.ExpireLogins()
	fake.Inject(http.MethodPost, "/auth/login", http.StatusUnauthorized, `{"message":"Invalid user name or password"}`, 1)
	_, err = c.Fetch(ctx, session, []string{"1"})
	if symphony.KindOf(err) != symphony.KindAuth || !strings.Contains(err.Error(), "SCALER_SYMPHONY_PASSWORD") {
		t.Fatalf("err = %v", err)
	}
}

// An old login is renewed with GET /auth/renew, not a new login.
func TestClientRenewsLogin(t *testing.T) {
	fake := symresttest.Start(t, symresttest.Options{NoBasic: true})
	c := newClient(t, symphony.ClientConfig{URL: fake.URL, User: "Guest", Password: "Guest", RenewAfter: time.Nanosecond})
	ctx := testCtx(t)
	session, err := c.OpenSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Fetch(ctx, session, []string{"1"}); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, r := range fake.Requests() {
		paths = append(paths, r.Method+" "+strings.TrimPrefix(r.Path, symresttest.Prefix))
	}
	want := "POST /auth/login,POST /clientapi/session,GET /auth/renew,PUT /clientapi/session/taskresults"
	if got := strings.Join(paths, ","); got != want {
		t.Fatalf("requests %s\nwant %s", got, want)
	}
}

func TestClientTLS(t *testing.T) {
	fake := symresttest.Start(t, symresttest.Options{TLS: true})
	c := newClient(t, symphony.ClientConfig{URL: fake.URL, User: "Guest", Password: "Guest", CAFile: fake.CAFile(t)})
	if _, err := c.OpenSession(testCtx(t)); err != nil {
		t.Fatalf("with the CA file: %v", err)
	}
}

// closedPort returns a loopback address nothing listens on (yet).
func closedPort(t *testing.T) string {
	t.Helper()
	return "127.0.0.1:" + strconv.Itoa(testbin.FreePorts(t, 1))
}

// Each way SYMREST can be unusable gives one line with what to check, and a kind the
// executor acts on.
func TestClientErrors(t *testing.T) {
	plain := symresttest.Start(t, symresttest.Options{Users: map[string]string{"alice": "secret"}})
	tlsFake := symresttest.Start(t, symresttest.Options{TLS: true})
	otherCAFile := selfSignedCA(t)
	open := func(c *symphony.Client) error { _, err := c.OpenSession(testCtx(t)); return err }
	cases := []struct {
		name  string
		cfg   symphony.ClientConfig
		setup func()
		call  func(*symphony.Client) error
		kind  symphony.ErrorKind
		want  []string
	}{
		{name: "unreachable", cfg: symphony.ClientConfig{URL: "http://" + closedPort(t)}, call: open,
			kind: symphony.KindUnreachable, want: []string{"is unreachable", "connection refused", "check --symrest-url"}},
		{name: "unknown CA", cfg: symphony.ClientConfig{URL: tlsFake.URL}, call: open,
			kind: symphony.KindTLS, want: []string{"TLS with", "certificate", "--symrest-ca-file"}},
		{name: "wrong CA", cfg: symphony.ClientConfig{URL: tlsFake.URL, CAFile: otherCAFile}, call: open,
			kind: symphony.KindTLS, want: []string{"TLS with", "holds the CA"}},
		{name: "https to plain HTTP", cfg: symphony.ClientConfig{URL: strings.Replace(plain.URL, "http:", "https:", 1)}, call: open,
			kind: symphony.KindTLS, want: []string{"does not answer TLS", "http:// URL"}},
		{name: "http to HTTPS", cfg: symphony.ClientConfig{URL: strings.Replace(tlsFake.URL, "https:", "http:", 1)}, call: open,
			kind: symphony.KindTLS, want: []string{"speaks HTTPS", "https:// URL"}},
		{name: "bad credentials", cfg: symphony.ClientConfig{URL: plain.URL, User: "alice", Password: "wrong"}, call: open,
			kind: symphony.KindAuth, want: []string{`refused user "alice"`, "HTTP 401", "--symphony-user"}},
		{name: "bad credentials, basic", cfg: symphony.ClientConfig{URL: plain.URL, User: "alice", Password: "wrong", Auth: symphony.AuthBasic}, call: open,
			kind: symphony.KindAuth, want: []string{`refused user "alice"`, "HTTP Basic"}},
		{name: "forbidden", cfg: symphony.ClientConfig{URL: plain.URL, User: "alice", Password: "secret"}, call: open,
			setup: func() {
				plain.Inject(http.MethodPost, "/clientapi/session", http.StatusForbidden, `{"message":"no permission"}`, 1)
			},
			kind: symphony.KindAuth, want: []string{"may not use application", "consumer"}},
		{name: "unknown application", cfg: symphony.ClientConfig{URL: plain.URL, User: "alice", Password: "secret", Application: "NoSuchApp"}, call: open,
			kind: symphony.KindUnknownApplication, want: []string{`no usable application "NoSuchApp"`, "does not exist", "--service-name"}},
		{name: "disabled application", cfg: symphony.ClientConfig{URL: plain.URL, User: "alice", Password: "secret"}, call: open,
			setup: func() {
				plain.Inject(http.MethodPost, "/clientapi/session", http.StatusBadRequest, `{"message":"Application ScalerService is disabled"}`, 1)
			},
			kind: symphony.KindUnknownApplication, want: []string{"is disabled"}},
		{name: "server error", cfg: symphony.ClientConfig{URL: plain.URL, User: "alice", Password: "secret"}, call: open,
			setup: func() {
				plain.Inject(http.MethodPost, "/clientapi/session", http.StatusInternalServerError, "boom\nline two", 1)
			},
			kind: symphony.KindOther, want: []string{"HTTP 500: boom line two"}},
		{name: "session lost", cfg: symphony.ClientConfig{URL: plain.URL, User: "alice", Password: "secret"},
			call: func(c *symphony.Client) error {
				_, err := c.Submit(testCtx(t), "999", []symphony.TaskInput{{Tag: "x", Data: []byte("x")}})
				return err
			},
			kind: symphony.KindSessionLost, want: []string{"session 999", "is gone", "HTTP 404"}},
		{name: "rejected submission", cfg: symphony.ClientConfig{URL: plain.URL, User: "alice", Password: "secret"},
			setup: func() {
				plain.Inject(http.MethodPut, "/session/tasks", http.StatusRequestEntityTooLarge, `{"message":"too large"}`, 1)
			},
			call: func(c *symphony.Client) error {
				_, err := c.Submit(testCtx(t), "1", []symphony.TaskInput{{Tag: "x", Data: []byte("x")}})
				return err
			},
			kind: symphony.KindRejected, want: []string{"refused the request", "HTTP 413: too large"}},
		{name: "answer not understood", cfg: symphony.ClientConfig{URL: plain.URL, User: "alice", Password: "secret"},
			setup: func() { plain.Inject(http.MethodPut, "/session/tasks", http.StatusOK, `{"taskIds": ["1"]}`, 1) },
			call: func(c *symphony.Client) error {
				_, err := c.Submit(testCtx(t), "1", []symphony.TaskInput{{Tag: "x", Data: []byte("x")}, {Tag: "y", Data: []byte("y")}})
				return err
			},
			kind: symphony.KindProtocol, want: []string{"1 task ids for 2 tasks"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.cfg.User == "" {
				c.cfg.User, c.cfg.Password = "Guest", "Guest"
			}
			if c.setup != nil {
				c.setup()
			}
			err := c.call(newClient(t, c.cfg))
			if err == nil {
				t.Fatal("no error")
			}
			if k := symphony.KindOf(err); k != c.kind {
				t.Errorf("kind %v, want %v: %v", k, c.kind, err)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("not one line: %q", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%q does not mention %q", msg, w)
				}
			}
		})
	}
}

func TestClientConfigErrors(t *testing.T) {
	for _, bad := range []string{"", "symphony:8050", "ftp://h:1", "https://"} {
		if symphony.CheckURL(bad) == nil {
			t.Errorf("URL %q accepted", bad)
		}
		if _, err := symphony.NewClient(symphony.ClientConfig{URL: bad, Application: "A"}); err == nil {
			t.Errorf("NewClient(%q) accepted", bad)
		}
	}
	for _, good := range []string{"https://h:8050", "http://h:8050/", "https://h/platform/rest/symrest/v1", "https://proxy/symphony/"} {
		if err := symphony.CheckURL(good); err != nil {
			t.Errorf("URL %q: %v", good, err)
		}
	}
	if _, err := symphony.NewClient(symphony.ClientConfig{URL: "https://h:1", Application: "A", CAFile: "/no/such/file"}); err == nil || !strings.Contains(err.Error(), "/no/such/file") {
		t.Errorf("missing CA file: %v", err)
	}
	if _, err := symphony.NewClient(symphony.ClientConfig{URL: "https://h:1", Application: "A", CAFile: "client_test.go"}); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("CA file without PEM: %v", err)
	}
	if _, err := symphony.NewClient(symphony.ClientConfig{URL: "https://h:1"}); err == nil {
		t.Error("no application accepted")
	}
	// A request that gets no answer because the caller gave up is not a SYMREST error.
	fake := symresttest.Start(t, symresttest.Options{})
	c := newClient(t, symphony.ClientConfig{URL: fake.URL, User: "Guest", Password: "Guest"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.OpenSession(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// selfSignedCA writes a CA certificate that signed nothing the fakes use.
func selfSignedCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "other CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "other-ca.pem")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}
