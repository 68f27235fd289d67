package worker

import (
	"context"
	"fmt"

	"github.com/scaler-go/scaler/core/config"
)

// runPreload runs a registered Go preload once, before the worker takes tasks. A preload
// that names no registered Go function is a Python preload: Python processors run it.
func (a *Agent) runPreload(ctx context.Context) error {
	if a.cfg.Preload == "" {
		return nil
	}
	call, err := config.ParsePythonCall(a.cfg.Preload)
	if err != nil {
		return err
	}
	regMu.RLock()
	fn, ok := preloads[call.Module+":"+call.Func]
	if !ok {
		fn, ok = preloads[call.Func]
	}
	regMu.RUnlock()
	if !ok {
		a.log.Info("preload is not a registered Go preload; Python processors will run it", "preload", a.cfg.Preload)
		return nil
	}
	args := call.Args
	if len(call.Kwargs) > 0 {
		args = append(args, call.Kwargs)
	}
	if err := fn(ctx, args); err != nil {
		return fmt.Errorf("preload %s failed: %w", a.cfg.Preload, err)
	}
	a.log.Info("preload done", "preload", a.cfg.Preload)
	return nil
}
