// Package symresttest is a local stand-in for IBM Symphony's SYMREST API, for tests: login
// (cookies and a CSRF token) or HTTP Basic, sessions, task submission and result polling,
// with each task run the way the usual Scaler Symphony service runs it — by Debian's
// python3 with cloudpickle, `fn, *args = cloudpickle.loads(input)` then
// `cloudpickle.dumps(fn(*args))`, a raised exception becoming the task's error message (its
// traceback text). It records every request, so tests can compare the JSON the client
// sends with golden files, and it can lose sessions, expire logins, hold tasks and inject
// errors.
//
// It is written from the same description of SYMREST as the client (see the client's
// wire.go), not from the client's code, so a mismatch between the two fails the tests.
package symresttest

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Prefix is the root of the SYMREST API.
const Prefix = "/platform/rest/symrest/v1"

const cookieName = "platform.rest.symrest"

// serviceScript is the Symphony service: a loop over length-prefixed inputs on stdin,
// answering on the original stdout (the task's own prints go to stderr).
const serviceScript = `import os, struct, sys, traceback
import cloudpickle

out = os.fdopen(os.dup(1), "wb")
os.dup2(2, 1)
sys.stdout = sys.stderr
inp = sys.stdin.buffer


def read_exact(n):
    b = inp.read(n)
    if b is None or len(b) < n:
        raise EOFError
    return b


while True:
    try:
        (n,) = struct.unpack("<I", read_exact(4))
    except EOFError:
        break
    data = read_exact(n)
    try:
        fn, *args = cloudpickle.loads(data)
        body = b"\x00" + cloudpickle.dumps(fn(*args))
    except BaseException:
        body = b"\x01" + traceback.format_exc().encode("utf-8", "replace")
    out.write(struct.pack("<I", len(body)) + body)
    out.flush()
`

// Options configures a Server.
type Options struct {
	// Applications are the registered applications (default ScalerService).
	Applications []string
	// Users maps user names to passwords (default Guest/Guest).
	Users map[string]string
	// NoBasic refuses HTTP Basic on the client API (login only).
	NoBasic bool
	// Workers is how many service processes run tasks at once (default 2).
	Workers int
	// Python is the interpreter (default /usr/bin/python3).
	Python string
	// TLS serves HTTPS with a self-signed certificate (see CAFile).
	TLS bool
	// Addr listens on this address instead of a random loopback port.
	Addr string
}

// Request is one recorded request.
type Request struct {
	Method string
	Path   string
	Query  string // raw
	Body   []byte
	// BasicUser is the user of an HTTP Basic header; CSRF the X-CSRF-Token header.
	BasicUser string
	CSRF      string
	Cookie    bool
}

type task struct {
	id      string
	input   []byte
	session *session
	done    bool
	output  []byte
	errMsg  string
	fetched bool
}

type session struct {
	id, app string
	tasks   map[string]*task
	next    int
}

type injection struct {
	method, suffix string
	status         int
	body           string
	times          int
}

// Server is the fake SYMREST.
type Server struct {
	*httptest.Server
	opts Options

	mu          sync.Mutex
	cond        *sync.Cond
	requests    []Request
	logins      map[string]string // cookie -> csrf token
	sessions    map[string]*session
	nextSession int
	pending     []*task
	held        bool
	closed      bool
	inFlight    int // submitted, result not yet returned to a client
	maxInFlight int
	submitted   int
	injections  []*injection
	services    map[*service]struct{}
	procs       sync.WaitGroup
}

// Start starts a server; it stops when the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	if len(o.Applications) == 0 {
		o.Applications = []string{"ScalerService"}
	}
	if o.Users == nil {
		o.Users = map[string]string{"Guest": "Guest"}
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.Python == "" {
		o.Python = "/usr/bin/python3"
	}
	s := &Server{opts: o, logins: map[string]string{}, sessions: map[string]*session{}, services: map[*service]struct{}{}}
	s.cond = sync.NewCond(&s.mu)
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	// Failed handshakes are what TLS tests provoke; keep them out of the test output.
	s.Server.Config.ErrorLog = log.New(io.Discard, "", 0)
	if o.Addr != "" {
		l, err := net.Listen("tcp", o.Addr)
		if err != nil {
			t.Fatal(err)
		}
		s.Server.Listener.Close()
		s.Server.Listener = l
	}
	if o.TLS {
		s.StartTLS()
	} else {
		s.Start()
	}
	for i := 0; i < o.Workers; i++ {
		s.procs.Add(1)
		go s.work()
	}
	t.Cleanup(s.Stop)
	return s
}

// Stop shuts the server and its service processes down (also done when the test ends).
func (s *Server) Stop() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.cond.Broadcast()
	for p := range s.services {
		_ = p.cmd.Process.Kill() // a task may be sleeping
	}
	s.mu.Unlock()
	s.Server.CloseClientConnections()
	s.Server.Close()
	s.procs.Wait()
}

// CAFile writes the server's certificate (self-signed: it is its own CA) as PEM and
// returns the file name.
func (s *Server) CAFile(t testing.TB) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "symrest-ca.pem")
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
	if err := os.WriteFile(f, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// Requests returns the recorded requests.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// ExpireLogins invalidates every login (cookies and tokens): the next client-API call
// gets 401.
func (s *Server) ExpireLogins() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logins = map[string]string{}
}

// LoseSessions forgets every session, as a restarted or failed-over master would.
func (s *Server) LoseSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ss := range s.sessions {
		for _, t := range ss.tasks {
			if !t.fetched {
				t.fetched = true
				s.inFlight--
			}
		}
	}
	s.sessions = map[string]*session{}
	s.pending = nil
}

// Hold keeps submitted tasks pending (queued in Symphony) until Release.
func (s *Server) Hold() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held = true
}

// Release lets held tasks run.
func (s *Server) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held = false
	s.cond.Broadcast()
}

// Inject makes the next `times` requests whose method matches and whose path ends with
// suffix fail with status and body.
func (s *Server) Inject(method, suffix string, status int, body string, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.injections = append(s.injections, &injection{method, suffix, status, body, times})
}

// OpenSessions is the number of sessions open now.
func (s *Server) OpenSessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Submitted is the number of tasks submitted so far.
func (s *Server) Submitted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.submitted
}

// MaxInFlight is the most tasks that were ever submitted and not yet returned to a client.
func (s *Server) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInFlight
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"message": msg})
}

func randomHex() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	user, pass, hasBasic := r.BasicAuth()
	rec := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: body, CSRF: r.Header.Get("X-CSRF-Token")}
	if hasBasic {
		rec.BasicUser = user
	}
	c, cerr := r.Cookie(cookieName)
	rec.Cookie = cerr == nil
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	for i, inj := range s.injections {
		if inj.method == r.Method && strings.HasSuffix(r.URL.Path, inj.suffix) {
			if inj.times--; inj.times <= 0 {
				s.injections = append(s.injections[:i], s.injections[i+1:]...)
			}
			s.mu.Unlock()
			w.WriteHeader(inj.status)
			_, _ = io.WriteString(w, inj.body)
			return
		}
	}
	s.mu.Unlock()

	path := strings.TrimPrefix(r.URL.Path, Prefix)
	if path == r.URL.Path {
		http.NotFound(w, r)
		return
	}
	goodBasic := hasBasic && s.opts.Users[user] == pass && s.opts.Users[user] != ""
	switch path {
	case "/auth/login":
		if r.Method != http.MethodPost {
			fail(w, http.StatusMethodNotAllowed, "use POST")
			return
		}
		if !goodBasic {
			fail(w, http.StatusUnauthorized, "Invalid user name or password")
			return
		}
		cookie, token := randomHex(), randomHex()
		s.mu.Lock()
		s.logins[cookie] = token
		s.mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: cookieName, Value: cookie, Path: "/", HttpOnly: true})
		w.Header().Set("X-CSRF-Token", token)
		writeJSON(w, http.StatusOK, map[string]string{"csrftoken": token})
		return
	}
	s.mu.Lock()
	loggedIn := cerr == nil && s.logins[c.Value] != "" && s.logins[c.Value] == rec.CSRF
	s.mu.Unlock()
	if !(loggedIn || (goodBasic && !s.opts.NoBasic)) {
		fail(w, http.StatusUnauthorized, "Authentication required")
		return
	}
	if path == "/auth/renew" {
		writeJSON(w, http.StatusOK, map[string]string{"csrftoken": rec.CSRF})
		return
	}
	q := r.URL.Query()
	app := q.Get("applicationName")
	switch {
	case path == "/clientapi/session" && r.Method == http.MethodPost:
		s.createSession(w, app, body)
	case path == "/clientapi/session" && r.Method == http.MethodDelete:
		s.mu.Lock()
		_, ok := s.sessions[q.Get("sessionId")]
		delete(s.sessions, q.Get("sessionId"))
		s.mu.Unlock()
		if !ok {
			fail(w, http.StatusNotFound, "Session "+q.Get("sessionId")+" not found")
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{})
	case path == "/clientapi/session/tasks" && r.Method == http.MethodPut:
		s.submit(w, app, q.Get("sessionId"), body)
	case path == "/clientapi/session/taskresults" && r.Method == http.MethodPut:
		s.results(w, app, q.Get("sessionId"), q.Get("countMax"), q.Get("filter"))
	default:
		fail(w, http.StatusNotFound, "no such resource "+r.Method+" "+path)
	}
}

func strict(body []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

func (s *Server) createSession(w http.ResponseWriter, app string, body []byte) {
	if !slices.Contains(s.opts.Applications, app) {
		fail(w, http.StatusNotFound, "Application "+app+" does not exist")
		return
	}
	var req struct {
		SessionName  string `json:"sessionName"`
		SessionType  string `json:"sessionType"`
		SessionFlags string `json:"sessionFlags"`
	}
	if err := strict(body, &req); err != nil || req.SessionType == "" {
		fail(w, http.StatusBadRequest, fmt.Sprintf("bad session request: %v", err))
		return
	}
	s.mu.Lock()
	s.nextSession++
	id := strconv.Itoa(s.nextSession)
	s.sessions[id] = &session{id: id, app: app, tasks: map[string]*task{}}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"sessionId": id})
}

func (s *Server) session(w http.ResponseWriter, app, id string) *session {
	ss := s.sessions[id]
	if ss == nil || ss.app != app {
		fail(w, http.StatusNotFound, "Session "+id+" not found")
		return nil
	}
	return ss
}

func (s *Server) submit(w http.ResponseWriter, app, sid string, body []byte) {
	var req struct {
		TaskInputs []struct {
			TaskTag   string `json:"taskTag"`
			InputData string `json:"inputData"`
		} `json:"taskInputs"`
	}
	if err := strict(body, &req); err != nil || len(req.TaskInputs) == 0 {
		fail(w, http.StatusBadRequest, fmt.Sprintf("bad task submission: %v", err))
		return
	}
	inputs := make([][]byte, len(req.TaskInputs))
	for i, in := range req.TaskInputs {
		b, err := base64.StdEncoding.DecodeString(in.InputData)
		if err != nil {
			fail(w, http.StatusBadRequest, "inputData is not base64")
			return
		}
		inputs[i] = b
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.session(w, app, sid)
	if ss == nil {
		return
	}
	ids := make([]string, len(inputs))
	for i, in := range inputs {
		ss.next++
		t := &task{id: strconv.Itoa(ss.next), input: in, session: ss}
		ss.tasks[t.id] = t
		s.pending = append(s.pending, t)
		ids[i] = t.id
	}
	s.submitted += len(inputs)
	s.inFlight += len(inputs)
	s.maxInFlight = max(s.maxInFlight, s.inFlight)
	s.cond.Broadcast()
	writeJSON(w, http.StatusOK, map[string][]string{"taskIds": ids})
}

type resultJSON struct {
	TaskID       string `json:"taskId"`
	OutputData   string `json:"outputData"`
	ErrorMessage string `json:"errorMessage"`
}

func (s *Server) results(w http.ResponseWriter, app, sid, countMax, filter string) {
	n, err := strconv.Atoi(countMax)
	if err != nil || n <= 0 {
		fail(w, http.StatusBadRequest, "countMax must be a positive integer")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.session(w, app, sid)
	if ss == nil {
		return
	}
	out := []resultJSON{}
	for _, id := range strings.Split(filter, ",") {
		if len(out) >= n {
			break
		}
		t := ss.tasks[id]
		if t == nil || !t.done {
			continue
		}
		out = append(out, resultJSON{TaskID: t.id, OutputData: base64.StdEncoding.EncodeToString(t.output), ErrorMessage: t.errMsg})
		if !t.fetched {
			t.fetched = true
			s.inFlight--
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"taskResults": out})
}

// work runs pending tasks in one service process, started when the first task comes.
func (s *Server) work() {
	defer s.procs.Done()
	var proc *service
	defer func() {
		if proc != nil {
			s.stopService(proc)
		}
	}()
	for {
		s.mu.Lock()
		for !s.closed && (s.held || len(s.pending) == 0) {
			s.cond.Wait()
		}
		if s.closed {
			s.mu.Unlock()
			return
		}
		t := s.pending[0]
		s.pending = s.pending[1:]
		s.mu.Unlock()

		if proc == nil {
			var err error
			if proc, err = s.startService(); err != nil {
				s.finish(t, nil, "cannot start the service: "+err.Error())
				continue
			}
		}
		out, errMsg, err := proc.run(t.input)
		if err != nil {
			s.stopService(proc)
			proc = nil
			errMsg = "the service process died: " + err.Error()
		}
		s.finish(t, out, errMsg)
	}
}

func (s *Server) finish(t *task, out []byte, errMsg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions[t.session.id] != t.session {
		return // the session was lost or closed meanwhile
	}
	t.done, t.output, t.errMsg = true, out, errMsg
}

type service struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func (s *Server) stopService(p *service) {
	p.close()
	s.mu.Lock()
	delete(s.services, p)
	s.mu.Unlock()
}

func (s *Server) startService() (*service, error) {
	cmd := exec.Command(s.opts.Python, "-c", serviceScript)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("server stopped")
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &service{cmd: cmd, in: in, out: bufio.NewReader(stdout)}
	s.services[p] = struct{}{}
	return p, nil
}

// run sends one input and returns the output, or the error text of a raised exception.
func (p *service) run(input []byte) ([]byte, string, error) {
	frame := binary.LittleEndian.AppendUint32(nil, uint32(len(input)))
	if _, err := p.in.Write(append(frame, input...)); err != nil {
		return nil, "", err
	}
	var hdr [4]byte
	if _, err := io.ReadFull(p.out, hdr[:]); err != nil {
		return nil, "", err
	}
	body := make([]byte, binary.LittleEndian.Uint32(hdr[:]))
	if _, err := io.ReadFull(p.out, body); err != nil {
		return nil, "", err
	}
	if len(body) == 0 {
		return nil, "", errors.New("empty answer")
	}
	if body[0] == 1 {
		return nil, string(body[1:]), nil
	}
	return body[1:], "", nil
}

func (p *service) close() {
	p.in.Close()
	_ = p.cmd.Wait()
}
