// Command scaler is the whole OpenGRIS Scaler system in one executable. It dispatches on the
// name it was called by (scaler_scheduler, scaler_worker_manager, ...), or on its first
// argument, busybox-style; `scaler FILE.toml` runs the launcher.
package main

import (
	"os"

	"github.com/scaler-go/scaler/applets"
)

func main() { applets.Main(os.Args) }
