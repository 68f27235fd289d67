package symphony_test

import (
	"flag"
	"testing"

	"go.uber.org/goleak"
)

// update rewrites the golden files: go test ./adapters/symphony -run Golden -update
var update = flag.Bool("update", false, "rewrite golden files")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
