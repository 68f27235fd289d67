package worker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/scaler-go/scaler/core/client"
)

// The stock binary's functions, so the load generator, health checks and users without
// their own binary can use any cluster.
func init() {
	Register("noop", func() {})
	Register("echo", func(v any) any { return v })
	Register("sleep", func(ctx context.Context, seconds float64) (float64, error) {
		t := time.NewTimer(time.Duration(seconds * float64(time.Second)))
		defer t.Stop()
		select {
		case <-t.C:
			return seconds, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})
	Register("sqrt", func(x float64) (float64, error) {
		if x < 0 {
			return 0, errors.New("math domain error: sqrt of a negative number")
		}
		return math.Sqrt(x), nil
	})
	Register("inc", func(x any) (any, error) { return addNumbers(x, int64(1)) })
	Register("add", addNumbers)
	Register("error", func(msg string) error { return errors.New(msg) })
	// map runs fn over args as nested tasks on the same cluster and returns the results:
	// a parent that waits for children, the case worker slot lending exists for.
	Register("map", func(ctx context.Context, fn string, args []any) ([]any, error) {
		c, err := client.Connect(ctx, "")
		if err != nil {
			return nil, err
		}
		defer c.Close()
		return c.Map(ctx, fn, args)
	})
	Register("hostname", func() (string, error) { return os.Hostname() })
}

// addNumbers sums integers as int64 and anything with a float in it as float64, so the
// builtins behave like Python's on mixed arguments.
func addNumbers(xs ...any) (any, error) {
	var isum int64
	var fsum float64
	float := false
	for _, x := range xs {
		switch v := x.(type) {
		case int64:
			isum += v
			fsum += float64(v)
		case uint64:
			isum += int64(v)
			fsum += float64(v)
		case float64:
			float = true
			fsum += v
		case float32:
			float = true
			fsum += float64(v)
		default:
			return nil, fmt.Errorf("add: %v (%T) is not a number", x, x)
		}
	}
	if float {
		return fsum, nil
	}
	return isum, nil
}
