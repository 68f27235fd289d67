package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// rotation says when a logFile starts a new file. The zero value never rotates.
type rotation struct {
	// Size-based, like Python's RotatingFileHandler: rotate before a write would reach
	// maxBytes, keeping backups numbered files; inactive unless both are positive.
	maxBytes int64
	backups  int

	// Time-based, like TimedRotatingFileHandler: when is S, M, H, D, MIDNIGHT or W0..W6
	// (upper case), interval a multiple of it; backups > 0 keeps that many old files.
	when     string
	interval int
	utc      bool
}

func (r rotation) timed() bool { return r.when != "" }

func (r rotation) sized() bool { return r.maxBytes > 0 && r.backups > 0 }

// suffixLayout is the time layout appended to rotated files, the Go spelling of Python's
// suffixes, so that existing log tooling finds the same names.
func (r rotation) suffixLayout() string {
	switch r.when {
	case "S":
		return "2006-01-02_15-04-05"
	case "M":
		return "2006-01-02_15-04"
	case "H":
		return "2006-01-02_15"
	default:
		return "2006-01-02"
	}
}

// step is the length of a period for S, M, H and D; 0 for MIDNIGHT and Wd, which follow the
// calendar.
func (r rotation) step() time.Duration {
	var unit time.Duration
	switch r.when {
	case "S":
		unit = time.Second
	case "M":
		unit = time.Minute
	case "H":
		unit = time.Hour
	case "D":
		unit = 24 * time.Hour
	}
	return time.Duration(max(r.interval, 1)) * unit
}

// next returns the first rollover instant after t.
func (r rotation) next(t time.Time) time.Time {
	if d := r.step(); d > 0 {
		return t.Add(d)
	}
	n := max(r.interval, 1)
	// MIDNIGHT and Wd roll over at a midnight; time.Date normalises the day overflow and
	// keeps DST transitions right.
	m := time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, t.Location())
	if r.when == "MIDNIGHT" {
		return m.AddDate(0, 0, n-1)
	}
	// Wd: the midnight that ends weekday d (Python's W0 rolls over as Monday ends).
	d := time.Weekday((int(r.when[1]-'0') + 1) % 7) // Python counts Monday as 0
	for m.AddDate(0, 0, -1).Weekday() != d {
		m = m.AddDate(0, 0, 1)
	}
	return m.AddDate(0, 0, 7*(n-1))
}

// previous is the start of the period that ends at rollover, used to name the rotated file.
func (r rotation) previous(at time.Time) time.Time {
	if d := r.step(); d > 0 {
		return at.Add(-d)
	}
	n := max(r.interval, 1)
	if r.when == "MIDNIGHT" {
		return at.AddDate(0, 0, -n)
	}
	return at.AddDate(0, 0, -7*n)
}

// logFile is an io.WriteCloser over a log file that rotates by size or time. slog handlers
// call Write once per record, so a record never straddles two files.
type logFile struct {
	mu     sync.Mutex
	path   string
	rot    rotation
	now    func() time.Time
	f      *os.File
	size   int64
	at     time.Time // next time-based rollover
	closed bool
}

// openLogFile opens path for appending (or truncates it when truncate is set, Python's mode
// "w"). Unless delay is set the file is opened now, so a bad path fails at start-up.
func openLogFile(path string, truncate, delay bool, rot rotation, now func() time.Time) (*logFile, error) {
	if now == nil {
		now = time.Now
	}
	l := &logFile{path: path, rot: rot, now: now}
	if rot.timed() {
		// Like Python, the first rollover is computed from the file's modification time, so
		// a log left over from yesterday is rotated on the first write today.
		start := l.clock()
		if st, err := os.Stat(path); err == nil && !truncate {
			start = st.ModTime().In(start.Location())
		}
		l.at = rot.next(start)
	}
	if truncate {
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			return nil, fmt.Errorf("log file: %w", err)
		}
	}
	if !delay {
		if err := l.open(); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (l *logFile) clock() time.Time {
	t := l.now()
	if l.rot.utc {
		return t.UTC()
	}
	return t
}

func (l *logFile) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("log file: %w", err)
	}
	l.f, l.size = f, st.Size()
	return nil
}

// Write appends p, rotating first when due.
func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, os.ErrClosed
	}
	if l.f == nil {
		if err := l.open(); err != nil {
			return 0, err
		}
	}
	if err := l.maybeRotate(int64(len(p))); err != nil {
		return 0, err
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	return n, err
}

func (l *logFile) maybeRotate(incoming int64) error {
	switch {
	case l.rot.timed():
		now := l.clock()
		if now.Before(l.at) {
			return nil
		}
		err := l.rotateTimed()
		for !l.at.After(now) {
			l.at = l.rot.next(l.at)
		}
		return err
	case l.rot.sized():
		if l.size+incoming < l.rot.maxBytes || l.size == 0 {
			return nil
		}
		return l.rotateSized()
	}
	return nil
}

func (l *logFile) rotateTimed() error {
	dst := l.path + "." + l.rot.previous(l.at).Format(l.rot.suffixLayout())
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	l.f = nil
	if _, err := os.Stat(dst); err == nil {
		// Another process (or a clock step) already produced this name. Python would
		// overwrite or skip; appending loses nothing.
		if err := appendFile(dst, l.path); err != nil {
			return err
		}
		if err := os.Remove(l.path); err != nil {
			return fmt.Errorf("log file: %w", err)
		}
	} else if err := os.Rename(l.path, dst); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("log file: %w", err)
	}
	if l.rot.backups > 0 {
		l.pruneTimed()
	}
	return l.open()
}

func appendFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("log file: %w", err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	return nil
}

// pruneTimed deletes the oldest rotated files beyond the backup count; names sort in time
// order because the suffixes are zero-padded dates.
func (l *logFile) pruneTimed() {
	dir, base := filepath.Split(l.path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	var old []string
	for _, e := range entries {
		suffix, ok := strings.CutPrefix(e.Name(), base+".")
		if !ok {
			continue
		}
		if _, err := time.Parse(l.rot.suffixLayout(), suffix); err == nil {
			old = append(old, e.Name())
		}
	}
	sort.Strings(old)
	for len(old) > l.rot.backups {
		os.Remove(filepath.Join(dir, old[0])) // best effort: a failed prune must not stop logging
		old = old[1:]
	}
}

func (l *logFile) rotateSized() error {
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	l.f = nil
	for i := l.rot.backups - 1; i > 0; i-- {
		src := fmt.Sprintf("%s.%d", l.path, i)
		if _, err := os.Stat(src); err == nil {
			if err := os.Rename(src, fmt.Sprintf("%s.%d", l.path, i+1)); err != nil {
				return fmt.Errorf("log file: %w", err)
			}
		}
	}
	if err := os.Rename(l.path, l.path+".1"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("log file: %w", err)
	}
	return l.open()
}

// Close closes the file; later writes fail.
func (l *logFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
