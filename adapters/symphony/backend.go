// Package symphony is the symphony worker manager: Scaler tasks from Python clients run as
// tasks of an IBM Spectrum Symphony application, reached through SYMREST, Symphony's
// HTTPS/JSON client API (spec/features.md §3.7, §3.10).
//
// The manager's units are in-process worker agents (core/worker) toward the scheduler; they
// share one Executor, which submits each task to one Symphony session (opened, and reopened
// when lost, by the executor), keeps at most max_task_concurrency Symphony tasks in flight,
// and polls their results from one goroutine. The SYMREST calls sit behind Backend, so the
// executor is tested without HTTP; Client is the net/http implementation. See README.md for
// the user's view and what could not be verified without a real Symphony cluster.
package symphony

import (
	"context"
	"errors"
	"fmt"
)

// Backend is the part of Symphony the executor uses: one session at a time, tasks submitted
// in batches, results fetched by task id. Implementations must be safe for concurrent use
// (the executor submits and fetches from different goroutines).
type Backend interface {
	// OpenSession creates a session of the application and returns its id.
	OpenSession(ctx context.Context) (string, error)
	// Submit sends task inputs to a session and returns Symphony's task ids in input order.
	Submit(ctx context.Context, session string, tasks []TaskInput) ([]string, error)
	// Fetch returns the outputs available for the given task ids (at most len(ids));
	// tasks still running are absent.
	Fetch(ctx context.Context, session string, ids []string) ([]TaskOutput, error)
	// CloseSession closes a session; Symphony discards what it still runs for it.
	CloseSession(ctx context.Context, session string) error
}

// TaskInput is one task to submit.
type TaskInput struct {
	// Tag labels the task in Symphony's tools: the Scaler task id in hex.
	Tag string
	// Data is the input message (a pickle, see BuildInput).
	Data []byte
}

// TaskOutput is a finished task.
type TaskOutput struct {
	ID string
	// Data is the output message, meaningful when Error is empty.
	Data []byte
	// Error is Symphony's error message for a failed task; empty means success.
	Error string
}

// ErrorKind classifies a SYMREST failure by what the operator has to check.
type ErrorKind int

// The kinds of Error.
const (
	// KindOther is any other failure (a server error, a malformed answer); retried.
	KindOther ErrorKind = iota
	// KindUnreachable means no HTTP answer: wrong URL, SYMREST down, network, timeout.
	KindUnreachable
	// KindTLS means the TLS handshake failed (unknown CA, wrong host name, not TLS).
	KindTLS
	// KindAuth means SYMREST refused the credentials or the user's permissions.
	KindAuth
	// KindUnknownApplication means Symphony has no usable application of that name.
	KindUnknownApplication
	// KindSessionLost means the session no longer exists on Symphony.
	KindSessionLost
	// KindRejected means SYMREST refused the request itself (HTTP 4xx); sending the same
	// request again would fail again.
	KindRejected
	// KindProtocol means SYMREST answered in a way this client does not understand. For a
	// submission, tasks may exist in Symphony that cannot be tracked, so they are not sent
	// again.
	KindProtocol
)

var kindNames = [...]string{"error", "unreachable", "tls", "credentials", "unknown application", "session lost", "rejected", "unexpected answer"}

// String names the kind in logs.
func (k ErrorKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is a SYMREST failure: Message says what happened, Hint what to check. Error()
// is one line.
type Error struct {
	Kind ErrorKind
	// Op is the operation: "login", "open session", "submit", "fetch", "close session".
	Op string
	// Status is the HTTP status, 0 when there was no answer.
	Status  int
	Message string
	Hint    string
	Err     error
}

func (e *Error) Error() string {
	s := "symphony " + e.Op + ": " + e.Message
	if e.Hint != "" {
		s += "; " + e.Hint
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of a SYMREST error, KindOther for any other error.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindOther
}
