package transport

import (
	"sync"

	"github.com/scaler-go/scaler/core/sysinfo"
)

var defaultMax = sync.OnceValue(func() uint64 {
	// A message can be as large as the memory of the host: a length prefix beyond that can
	// only be an attack or garbage, and allocating it would end the process.
	if _, total := sysinfo.HostMemory(); total > 0 {
		return total
	}
	return 16 << 30
})

// DefaultMaxMessageSize is the host's physical memory (16 GiB when it cannot be read).
func DefaultMaxMessageSize() uint64 { return defaultMax() }
