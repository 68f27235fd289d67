package worker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"

	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/worker/pyproc"
)

// ErrPythonUnavailable wraps why a Python processor could not start (no interpreter, no
// cloudpickle, a failing preload).
var ErrPythonUnavailable = errors.New("python processor unavailable")

// RunPythonOnce runs one Python task in a fresh processor, outside any agent: batch jobs
// (aws_hpc's job runner) use it. It returns what a worker would store: the serialized
// result (ok) or the pickled exception (!ok). The task's output goes to this process's
// stdout and stderr. When ctx ends the processor is killed and ctx's error returned.
func RunPythonOnce(ctx context.Context, cfg PythonConfig, preload string, t ExecTask) (payload []byte, ok bool, err error) {
	interp := cfg.interpreter()
	path, err := exec.LookPath(interp)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %s is not installed here (install python3 with cloudpickle)", ErrPythonUnavailable, interp)
	}
	cmd, fromParent, fromChild, err := startProcessor(path)
	if err != nil {
		return nil, false, err
	}
	waited := make(chan error, 1)
	defer func() {
		fromParent.Close()
		fromChild.Close()
		_ = cmd.Process.Kill()
		<-waited
	}()
	go func() { waited <- cmd.Wait() }()
	stop := context.AfterFunc(ctx, func() { _ = cmd.Process.Kill() })
	defer stop()

	// The processor reads INIT before anything else, and its pipe buffer holds the frames
	// until it is ready; a writer goroutine keeps a large task from blocking on the pipe.
	writeErr := make(chan error, 1)
	go func() {
		_, err := fromParent.Write(cfg.initFrame(preload))
		writeErr <- err
	}()
	r := bufio.NewReaderSize(fromChild, 64<<10)
	for {
		kind, body, err := readFrame(r)
		if err != nil {
			if ctx.Err() != nil {
				return nil, false, ctx.Err()
			}
			// The processor died: as in a worker, the task fails with ProcessorDiedError.
			select {
			case werr := <-waited:
				waited <- werr
				err = werr
			case <-time.After(2 * time.Second):
			}
			_, payload := processorDied(err)
			return payload, false, nil
		}
		switch kind {
		case pyproc.Ready:
			if err := <-writeErr; err != nil {
				return nil, false, fmt.Errorf("write to the Python processor: %w", err)
			}
			ids := append([]protocol.ObjectID{t.SerializerID, t.FunctionID}, t.ArgIDs...)
			payloads := append([][]byte{t.Serializer, t.Function}, t.Args...)
			go func() { _, _ = fromParent.Write(frame(pyproc.Task, taskBody(t.ID, false, ids, payloads))) }()
		case pyproc.InitFailed:
			return nil, false, fmt.Errorf("%w: %s", ErrPythonUnavailable, body)
		case pyproc.Result:
			if len(body) < 33 || [16]byte(body[:16]) != t.ID {
				return nil, false, errors.New("the Python processor sent a malformed result")
			}
			return body[33:], body[16] == 1, nil
		case pyproc.Log:
			// Output goes to the processor's own stdout/stderr unless streamed; nothing to do.
		}
	}
}
