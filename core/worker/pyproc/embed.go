// Package pyproc holds the Python processor program the Go worker embeds: a small script
// run by python3 that executes Python tasks for the agent (see processor.py for its pipe
// protocol).
package pyproc

import _ "embed"

// Script is processor.py.
//
//go:embed processor.py
var Script []byte

// Frame types of the agent/processor pipe protocol.
const (
	Init       = 1
	Task       = 2
	Evict      = 3
	Ready      = 10
	InitFailed = 11
	Result     = 12
	Log        = 13
)
