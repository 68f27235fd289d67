package worker

import (
	"context"
	"fmt"

	"github.com/scaler-go/scaler/core/gocodec"
	"github.com/scaler-go/scaler/core/protocol"
)

// PythonConfig configures the Python processors.
type PythonConfig struct {
	// Interpreter is the python3 to run; empty means "python3" on PATH.
	Interpreter string
}

// pythonPool runs Python tasks. Until Python processors are available in this build, a
// Python task fails with a message saying so, and Go tasks are unaffected.
type pythonPool struct {
	a   *Agent
	ctx context.Context
}

func newPythonPool(a *Agent, ctx context.Context) *pythonPool { return &pythonPool{a: a, ctx: ctx} }

func (p *pythonPool) start()                               {}
func (p *pythonPool) check()                               {}
func (p *pythonPool) close()                               {}
func (p *pythonPool) evict(*protocol.ObjectInstruction)    {}
func (p *pythonPool) statuses() []protocol.ProcessorStatus { return nil }
func (p *pythonPool) kill(*task)                           {}

func (p *pythonPool) run(ctx context.Context, t *task) {
	a := p.a
	go func() {
		msg := fmt.Sprintf("worker %s cannot run Python tasks: this build has no Python processor", a.identity)
		a.post(finished{t: t})
		a.storeResult(ctx, t, a.failurePayload(t, gocodec.Failure{Message: msg, Worker: a.identity, Kind: "error"}),
			protocol.ResultFailed, protocol.ProfileResult{})
	}()
}
