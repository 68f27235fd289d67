package symphony

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// AuthMode is how the client authenticates to SYMREST.
type AuthMode string

const (
	// AuthLogin logs in once (POST /auth/login with the credentials), then sends the session
	// cookies and the CSRF token the login returned; the login is renewed (GET /auth/renew)
	// before it ages out and repeated when SYMREST answers 401.
	AuthLogin AuthMode = "login"
	// AuthBasic sends the credentials with every request (HTTP Basic).
	AuthBasic AuthMode = "basic"
)

// Operation names used in errors and logs.
const (
	opLogin  = "login"
	opRenew  = "renew login"
	opOpen   = "open session"
	opSubmit = "submit"
	opFetch  = "fetch results"
	opClose  = "close session"
)

// ClientConfig configures a SYMREST client.
type ClientConfig struct {
	// URL is SYMREST's root, e.g. https://symphony-master:8050 (a URL ending in
	// /platform/rest/symrest/v1 is accepted too).
	URL string
	// Application is the Symphony application (the manager's --service-name).
	Application string
	// User and Password are the Symphony credentials.
	User, Password string
	// Auth is AuthLogin (default) or AuthBasic.
	Auth AuthMode
	// CAFile is a PEM bundle of the CAs that sign SYMREST's certificate; empty means the
	// system's roots.
	CAFile string
	// SessionName and SessionType open sessions (defaults ScalerSession and
	// RecoverableAllHistoricalData, as the Python adapter does; the type must exist in the
	// application profile).
	SessionName, SessionType string
	// RequestTimeout bounds each HTTP request (default 60 s).
	RequestTimeout time.Duration
	// RenewAfter is the age at which a login is renewed (default 1 h; SYMREST logins last
	// 8 h).
	RenewAfter time.Duration
	// Logger receives the client's logs.
	Logger *slog.Logger
}

// Client is Backend over SYMREST with net/http. It is safe for concurrent use.
type Client struct {
	cfg  ClientConfig
	root string // scheme://host[:port][/prefix], no trailing slash
	http *http.Client
	log  *slog.Logger

	// mu is held for a whole login or renewal, so concurrent requests wait for one login
	// instead of each starting their own.
	mu       sync.Mutex
	loggedIn bool
	token    string
	loginAt  time.Time
	loginGen uint64
}

// NewClient checks cfg (URL, CA file) and returns a client; it does not contact SYMREST.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Auth == "" {
		cfg.Auth = AuthLogin
	}
	if cfg.Auth != AuthLogin && cfg.Auth != AuthBasic {
		return nil, fmt.Errorf("unknown SYMREST authentication %q (login or basic)", cfg.Auth)
	}
	if cfg.SessionName == "" {
		cfg.SessionName = "ScalerSession"
	}
	if cfg.SessionType == "" {
		cfg.SessionType = "RecoverableAllHistoricalData"
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 60 * time.Second
	}
	if cfg.RenewAfter <= 0 {
		cfg.RenewAfter = time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Application == "" {
		return nil, errors.New("no Symphony application (--service-name) given")
	}
	root, err := normalizeURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("SYMREST CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("SYMREST CA file %s holds no PEM certificate", cfg.CAFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, root: root, log: cfg.Logger,
		http: &http.Client{Transport: tr, Jar: jar, Timeout: cfg.RequestTimeout}}
	if strings.HasPrefix(root, "http://") {
		c.log.Warn("the SYMREST URL is http://: the Symphony password travels unencrypted", "url", root)
	}
	return c, nil
}

// CheckURL validates a SYMREST URL for option parsing; the error reads after the option name.
func CheckURL(raw string) error {
	if _, err := normalizeURL(raw); err != nil {
		return errors.New("must look like https://host:port")
	}
	return nil
}

// normalizeURL checks a SYMREST URL and strips the API path if the user gave it.
func normalizeURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", fmt.Errorf("SYMREST URL %q: %w", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("SYMREST URL %q must look like https://host:port", raw)
	}
	p := strings.TrimRight(u.Path, "/")
	p = strings.TrimSuffix(p, "/clientapi")
	p = strings.TrimSuffix(p, restPrefix)
	u.Path, u.RawQuery, u.Fragment = p, "", ""
	return strings.TrimRight(u.String(), "/"), nil
}

// Close releases the client's idle connections.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

// URL is the SYMREST root the client talks to.
func (c *Client) URL() string { return c.root }

// query renders parameters in the given order; commas stay literal (filter=1,2,3).
func query(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(kv[i]))
		b.WriteByte('=')
		b.WriteString(strings.ReplaceAll(url.QueryEscape(kv[i+1]), "%2C", ","))
	}
	return b.String()
}

// OpenSession creates a session of the application.
func (c *Client) OpenSession(ctx context.Context) (string, error) {
	body := sessionRequest{SessionName: c.cfg.SessionName, SessionType: c.cfg.SessionType, SessionFlags: partialAsync}
	data, err := c.do(ctx, opOpen, http.MethodPost, sessionPath, query("applicationName", c.cfg.Application), body, "")
	if err != nil {
		return "", err
	}
	id, err := decodeSessionID(data)
	if err != nil {
		return "", &Error{Kind: KindProtocol, Op: opOpen, Status: 200, Message: err.Error(), Err: err}
	}
	return id, nil
}

// Submit sends the inputs and returns Symphony's task ids in order.
func (c *Client) Submit(ctx context.Context, session string, tasks []TaskInput) ([]string, error) {
	req := submitRequest{TaskInputs: make([]taskInputJSON, len(tasks))}
	for i, t := range tasks {
		req.TaskInputs[i] = taskInputJSON{TaskTag: t.Tag, InputData: base64.StdEncoding.EncodeToString(t.Data)}
	}
	data, err := c.do(ctx, opSubmit, http.MethodPut, tasksPath,
		query("applicationName", c.cfg.Application, "sessionId", session), req, session)
	if err != nil {
		return nil, err
	}
	ids, err := decodeTaskIDs(data)
	if err == nil && len(ids) != len(tasks) {
		err = fmt.Errorf("SYMREST returned %d task ids for %d tasks", len(ids), len(tasks))
	}
	if err != nil {
		return nil, &Error{Kind: KindProtocol, Op: opSubmit, Status: 200, Message: err.Error(), Err: err,
			Hint: "the tasks may exist in Symphony but cannot be tracked"}
	}
	return ids, nil
}

// Fetch returns the available outputs of the given tasks.
func (c *Client) Fetch(ctx context.Context, session string, ids []string) ([]TaskOutput, error) {
	data, err := c.do(ctx, opFetch, http.MethodPut, resultsPath,
		query("applicationName", c.cfg.Application, "sessionId", session,
			"countMax", strconv.Itoa(len(ids)), "filter", strings.Join(ids, ",")), nil, session)
	if err != nil {
		return nil, err
	}
	outs, err := decodeTaskResults(data)
	if err != nil {
		return nil, &Error{Kind: KindProtocol, Op: opFetch, Status: 200, Message: err.Error(), Err: err}
	}
	return outs, nil
}

// CloseSession closes a session; a session Symphony no longer knows counts as closed.
func (c *Client) CloseSession(ctx context.Context, session string) error {
	_, err := c.do(ctx, opClose, http.MethodDelete, sessionPath,
		query("applicationName", c.cfg.Application, "sessionId", session), nil, session)
	if KindOf(err) == KindSessionLost {
		return nil
	}
	return err
}

// maxAnswer bounds one answer (a batch of task outputs).
const maxAnswer = 4 << 30

// do sends one request (JSON body when body is not nil) and returns a 2xx answer's body.
// In login mode a 401 triggers one new login and one retry.
func (c *Client) do(ctx context.Context, op, method, path, rawQuery string, body any, session string) ([]byte, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, fmt.Errorf("symphony %s: encode request: %w", op, err)
		}
	}
	for attempt := 0; ; attempt++ {
		token, gen, err := c.credentials(ctx)
		if err != nil {
			return nil, err
		}
		target := c.root + path
		if rawQuery != "" {
			target += "?" + rawQuery
		}
		req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(payload))
		if err != nil {
			return nil, fmt.Errorf("symphony %s: %w", op, err)
		}
		req.Header.Set("Accept", "application/json")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		c.authorize(req, token)
		status, _, data, err := c.send(req, op)
		if err != nil {
			return nil, err
		}
		if status == http.StatusUnauthorized && c.cfg.Auth == AuthLogin && attempt == 0 {
			c.log.Info("SYMREST login no longer accepted; logging in again", "op", op)
			c.forget(gen)
			continue
		}
		if status/100 == 2 {
			return data, nil
		}
		return nil, c.statusError(op, status, data, session)
	}
}

func (c *Client) authorize(req *http.Request, token string) {
	if c.cfg.Auth == AuthBasic {
		req.SetBasicAuth(c.cfg.User, c.cfg.Password)
	} else if token != "" {
		req.Header.Set(csrfHeader, token)
	}
}

// send performs the request and reads the answer; a failure without an answer is classified.
func (c *Client) send(req *http.Request, op string) (int, http.Header, []byte, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, c.transportError(req.Context(), op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return 0, nil, nil, c.transportError(req.Context(), op, err)
	}
	return resp.StatusCode, resp.Header, data, nil
}

// credentials returns the CSRF token to send (login mode), logging in or renewing first
// when needed, and the login generation it belongs to.
func (c *Client) credentials(ctx context.Context) (string, uint64, error) {
	if c.cfg.Auth != AuthLogin {
		return "", 0, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loggedIn && time.Since(c.loginAt) < c.cfg.RenewAfter {
		return c.token, c.loginGen, nil
	}
	if c.loggedIn {
		err := c.renewLocked(ctx)
		if err == nil {
			return c.token, c.loginGen, nil
		}
		c.log.Info("renewing the SYMREST login failed; logging in again", "err", err)
	}
	if err := c.loginLocked(ctx); err != nil {
		return "", 0, err
	}
	return c.token, c.loginGen, nil
}

// forget drops the login of generation gen (unless another request already replaced it).
func (c *Client) forget(gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loginGen == gen {
		c.loggedIn = false
	}
}

func (c *Client) loginLocked(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.root+loginPath, http.NoBody)
	if err != nil {
		return fmt.Errorf("symphony login: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(c.cfg.User, c.cfg.Password)
	status, hdr, data, err := c.send(req, opLogin)
	if err != nil {
		return err
	}
	switch {
	case status/100 == 2:
	case status == http.StatusNotFound:
		return &Error{Kind: KindOther, Op: opLogin, Status: status,
			Message: fmt.Sprintf("%s%s does not exist (HTTP 404)", c.root, loginPath),
			Hint:    "check --symrest-url points at SYMREST (Symphony 7.2 or later), or use --symphony-auth basic"}
	default:
		return c.statusError(opLogin, status, data, "")
	}
	c.token = hdr.Get(csrfHeader)
	if c.token == "" {
		c.token = decodeCSRF(data)
	}
	c.loggedIn, c.loginAt = true, time.Now()
	c.loginGen++
	c.log.Info("logged in to SYMREST", "url", c.root, "user", c.cfg.User, "csrf_token", c.token != "")
	return nil
}

func (c *Client) renewLocked(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.root+renewPath, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	c.authorize(req, c.token)
	status, hdr, data, err := c.send(req, opRenew)
	if err != nil {
		return err
	}
	if status/100 != 2 {
		return c.statusError(opRenew, status, data, "")
	}
	if t := hdr.Get(csrfHeader); t != "" {
		c.token = t
	} else if t := decodeCSRF(data); t != "" {
		c.token = t
	}
	c.loginAt = time.Now()
	c.log.Debug("renewed the SYMREST login")
	return nil
}

// transportError classifies a request that got no answer.
func (c *Client) transportError(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("symphony %s: %w", op, ctx.Err())
	}
	var (
		unknownCA  x509.UnknownAuthorityError
		hostname   x509.HostnameError
		invalid    x509.CertificateInvalidError
		verify     *tls.CertificateVerificationError
		recordHdr  tls.RecordHeaderError
		alert      tls.AlertError
		tlsMessage = strings.Contains(err.Error(), "tls: ")
	)
	switch {
	// net/http reports a plain-HTTP answer to a TLS hello with this text only.
	case errors.As(err, &recordHdr), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return &Error{Kind: KindTLS, Op: op, Err: err,
			Message: fmt.Sprintf("%s does not answer TLS (%v)", c.root, rootCause(err)),
			Hint:    "if SYMREST runs without TLS use an http:// URL, else check the port in --symrest-url"}
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid), errors.As(err, &verify), errors.As(err, &alert), tlsMessage:
		hint := "give the CA certificate (PEM) that signed SYMREST's certificate with --symrest-ca-file"
		if c.cfg.CAFile != "" {
			hint = fmt.Sprintf("check that %s holds the CA that signed SYMREST's certificate and that the certificate names the host in --symrest-url", c.cfg.CAFile)
		}
		return &Error{Kind: KindTLS, Op: op, Err: err, Message: fmt.Sprintf("TLS with %s failed (%v)", c.root, rootCause(err)), Hint: hint}
	}
	return &Error{Kind: KindUnreachable, Op: op, Err: err,
		Message: fmt.Sprintf("SYMREST at %s is unreachable (%v)", c.root, rootCause(err)),
		Hint:    "check --symrest-url and that the SYMREST service runs on the Symphony master"}
}

// rootCause strips url.Error's "Put \"...\":" prefix, which repeats the URL.
func rootCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// statusError classifies an error answer.
func (c *Client) statusError(op string, status int, body []byte, session string) error {
	msg := errorMessage(body)
	detail := "HTTP " + strconv.Itoa(status)
	if msg != "" {
		detail += ": " + msg
	}
	e := &Error{Op: op, Status: status}
	switch {
	case status == http.StatusBadRequest && strings.Contains(msg, "HTTPS server"):
		e.Kind, e.Message = KindTLS, fmt.Sprintf("%s speaks HTTPS (%s)", c.root, detail)
		e.Hint = "use an https:// URL in --symrest-url"
	case status == http.StatusUnauthorized:
		e.Kind, e.Message = KindAuth, fmt.Sprintf("SYMREST refused user %q (%s)", c.cfg.User, detail)
		e.Hint = "check --symphony-user and the password (SCALER_SYMPHONY_PASSWORD or --symphony-password-file)"
		if c.cfg.Auth == AuthBasic {
			e.Hint += ", and whether SYMREST accepts HTTP Basic (else use --symphony-auth login)"
		}
	case status == http.StatusForbidden:
		e.Kind, e.Message = KindAuth, fmt.Sprintf("user %q may not use application %q (%s)", c.cfg.User, c.cfg.Application, detail)
		e.Hint = "check the user's permissions on the application's consumer"
	case op == opOpen && status < 500 && (status == http.StatusNotFound || mentionsApplication(msg)):
		e.Kind, e.Message = KindUnknownApplication, fmt.Sprintf("Symphony has no usable application %q (%s)", c.cfg.Application, detail)
		e.Hint = "check --service-name names a registered and enabled Symphony application, and the session type (--symphony-session-type) exists in its profile"
	case session != "" && (status == http.StatusNotFound || status == http.StatusGone):
		e.Kind, e.Message = KindSessionLost, fmt.Sprintf("session %s of application %q is gone (%s)", session, c.cfg.Application, detail)
	case status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests:
		e.Kind, e.Message = KindRejected, fmt.Sprintf("SYMREST refused the request (%s)", detail)
	default:
		e.Kind, e.Message = KindOther, fmt.Sprintf("SYMREST failed (%s)", detail)
	}
	return e
}

// mentionsApplication guesses from an error text whether the application is the problem.
func mentionsApplication(msg string) bool {
	m := strings.ToLower(msg)
	if !strings.Contains(m, "application") {
		return false
	}
	for _, w := range []string{"not found", "not exist", "unknown", "not registered", "disabled", "invalid", "no such"} {
		if strings.Contains(m, w) {
			return true
		}
	}
	return false
}
