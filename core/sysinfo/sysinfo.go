// Package sysinfo reads process and host resource figures for heartbeats and status
// reports: CPU use in tenths of a percent, resident memory, available memory and the
// memory limit (cgroup v2, then v1, then the host), as spec/protocol.md §9.3 describes.
package sysinfo

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ; it is 100 on every Linux architecture Go supports.
const clockTicks = 100

// CPUSampler measures a process's CPU use between two calls. It is not safe for concurrent
// use; each owner keeps its own.
type CPUSampler struct {
	pid      string
	lastCPU  float64
	lastWall time.Time
}

// NewCPUSampler samples pid ("self" for this process).
func NewCPUSampler(pid string) *CPUSampler { return &CPUSampler{pid: pid} }

// Sample returns CPU use since the previous call, in tenths of a percent (992 = 99.2 %),
// capped at 65535.
func (s *CPUSampler) Sample() uint16 {
	cpu, ok := ProcessCPUSeconds(s.pid)
	now := time.Now()
	if !ok {
		return 0
	}
	defer func() { s.lastCPU, s.lastWall = cpu, now }()
	if s.lastWall.IsZero() {
		return 0
	}
	wall := now.Sub(s.lastWall).Seconds()
	if wall <= 0 {
		return 0
	}
	v := (cpu - s.lastCPU) / wall * 1000
	if v < 0 {
		return 0
	}
	if v > 65535 {
		return 65535
	}
	return uint16(v)
}

// ProcessCPUSeconds is user+system CPU time of pid ("self" allowed).
func ProcessCPUSeconds(pid string) (float64, bool) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, false
	}
	// Fields after the command name, which is in parentheses and may contain spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return (utime + stime) / clockTicks, true
}

// ProcessMemory returns the proportional set size of pid when the kernel reports it, else
// its resident set size, in bytes.
func ProcessMemory(pid string) uint64 {
	if v, ok := readKB("/proc/"+pid+"/smaps_rollup", "Pss:"); ok {
		return v[0]
	}
	return ProcessRSS(pid)
}

// ProcessRSS returns the resident set size of pid in bytes.
func ProcessRSS(pid string) uint64 {
	v, _ := readKB("/proc/"+pid+"/status", "VmRSS:")
	return v[0]
}

// readKB reads the "Key: N kB" lines of path in one pass and returns the value of each key,
// in bytes (0 when missing); ok reports whether every key was found.
func readKB(path string, keys ...string) (vals []uint64, ok bool) {
	vals = make([]uint64, len(keys))
	f, err := os.Open(path)
	if err != nil {
		return vals, false
	}
	defer f.Close()
	found := make([]bool, len(keys))
	left := len(keys)
	s := bufio.NewScanner(f)
	for left > 0 && s.Scan() {
		for i, key := range keys {
			rest, match := strings.CutPrefix(s.Text(), key)
			if !match || found[i] {
				continue
			}
			if fields := strings.Fields(rest); len(fields) > 0 {
				if v, err := strconv.ParseUint(fields[0], 10, 64); err == nil {
					vals[i], found[i] = v<<10, true
					left--
				}
			}
		}
	}
	return vals, left == 0
}

// HostMemory returns the host's available and total memory in bytes, read from /proc/meminfo
// in one pass (0 for a figure the kernel does not report).
func HostMemory() (available, total uint64) {
	v, _ := readKB("/proc/meminfo", "MemAvailable:", "MemTotal:")
	return v[0], v[1]
}

// Memory returns the available memory and the memory limit of this process's cgroup, or of
// the host when no cgroup limit is set.
func Memory() (available, limit uint64) {
	hostAvail, hostTotal := HostMemory()
	if max, cur, ok := cgroupV2(); ok && max > 0 && max < hostTotal {
		return sat(max, cur), max
	}
	if max, cur, ok := cgroupV1(); ok && max > 0 && max < hostTotal {
		return sat(max, cur), max
	}
	return hostAvail, hostTotal
}

func sat(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

func readUint(path string) (uint64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return v, err == nil
}

func cgroupV2() (max, cur uint64, ok bool) {
	dir := "/sys/fs/cgroup"
	if b, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, found := strings.CutPrefix(line, "0::"); found {
				dir += rest
			}
		}
	}
	m, ok1 := readUint(dir + "/memory.max")
	c, ok2 := readUint(dir + "/memory.current")
	return m, c, ok1 && ok2
}

func cgroupV1() (max, cur uint64, ok bool) {
	m, ok1 := readUint("/sys/fs/cgroup/memory/memory.limit_in_bytes")
	c, ok2 := readUint("/sys/fs/cgroup/memory/memory.usage_in_bytes")
	return m, c, ok1 && ok2
}
