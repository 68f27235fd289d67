package applets_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/transport"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var monitorRetry = transport.RetryPolicy{MaxRetries: 6, InitialDelay: 100 * time.Millisecond}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
