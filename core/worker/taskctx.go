package worker

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/scaler-go/scaler/core/protocol"
)

type taskCtxKey struct{}

type taskCtx struct {
	a *Agent
	t *task
}

func withTaskContext(ctx context.Context, a *Agent, t *task) context.Context {
	return context.WithValue(ctx, taskCtxKey{}, &taskCtx{a: a, t: t})
}

// Output returns where a task function should print: with the client's stream_output flag
// each write reaches the client as a TaskLog, otherwise it goes to the worker's own stdout
// (or stderr for Stderr). Outside a task it returns os.Stdout.
func Output(ctx context.Context) io.Writer { return taskWriter(ctx, protocol.LogStdout, os.Stdout) }

// Stderr is Output for the error stream.
func Stderr(ctx context.Context) io.Writer { return taskWriter(ctx, protocol.LogStderr, os.Stderr) }

// Printf formats to Output(ctx).
func Printf(ctx context.Context, format string, args ...any) {
	fmt.Fprintf(Output(ctx), format, args...)
}

func taskWriter(ctx context.Context, typ protocol.LogType, fallback io.Writer) io.Writer {
	tc, _ := ctx.Value(taskCtxKey{}).(*taskCtx)
	if tc == nil || !tc.t.flags.StreamOutput {
		return fallback
	}
	return logWriter{tc: tc, typ: typ}
}

type logWriter struct {
	tc  *taskCtx
	typ protocol.LogType
}

func (w logWriter) Write(p []byte) (int, error) {
	w.tc.a.post(taskLog{t: w.tc.t, typ: w.typ, content: string(p)})
	return len(p), nil
}

// TaskID returns the id of the task ctx belongs to, if any.
func TaskID(ctx context.Context) (protocol.TaskID, bool) {
	tc, _ := ctx.Value(taskCtxKey{}).(*taskCtx)
	if tc == nil {
		return protocol.TaskID{}, false
	}
	return tc.t.id, true
}
