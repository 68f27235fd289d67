package transport

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"sync"
)

var defaultMax = sync.OnceValue(func() uint64 {
	// A message can be as large as the memory of the host: a length prefix beyond that can
	// only be an attack or garbage, and allocating it would end the process.
	if total := memTotal(); total > 0 {
		return total
	}
	return 16 << 30
})

// DefaultMaxMessageSize is the host's physical memory (16 GiB when it cannot be read).
func DefaultMaxMessageSize() uint64 { return defaultMax() }

func memTotal() uint64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			fields := strings.Fields(rest)
			if len(fields) >= 1 {
				kib, err := strconv.ParseUint(fields[0], 10, 64)
				if err == nil {
					return kib << 10
				}
			}
		}
	}
	return 0
}
