package config

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// fakeClock is a settable clock for rotation tests.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func readFileT(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func write(t *testing.T, l *logFile, s string) {
	t.Helper()
	if _, err := l.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

func TestRotateAtMidnight(t *testing.T) {
	zone := time.FixedZone("X", 3*3600)
	clock := &fakeClock{time.Date(2026, 3, 1, 22, 0, 0, 0, zone)}
	dir := t.TempDir()
	path := filepath.Join(dir, "s.log")
	l, err := openLogFile(path, false, false, rotation{when: "MIDNIGHT", interval: 1}, clock.now)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	write(t, l, "day1\n")
	clock.t = time.Date(2026, 3, 1, 23, 59, 59, 0, zone)
	write(t, l, "day1-late\n")
	clock.t = time.Date(2026, 3, 2, 0, 0, 1, 0, zone)
	write(t, l, "day2\n")
	// Two days pass without writes: one rotation, named after the day it covered.
	clock.t = time.Date(2026, 3, 4, 12, 0, 0, 0, zone)
	write(t, l, "day4\n")
	if got := readFileT(t, path+".2026-03-01"); got != "day1\nday1-late\n" {
		t.Errorf("2026-03-01 = %q", got)
	}
	if got := readFileT(t, path+".2026-03-02"); got != "day2\n" {
		t.Errorf("2026-03-02 = %q", got)
	}
	if got := readFileT(t, path); got != "day4\n" {
		t.Errorf("current = %q", got)
	}
	if want := []string{"s.log", "s.log.2026-03-01", "s.log.2026-03-02"}; !slices.Equal(dirNames(t, dir), want) {
		t.Errorf("files = %q", dirNames(t, dir))
	}
}

func TestRotateUsesExistingFileTime(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.log")
	if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	yesterday := time.Date(2026, 5, 9, 15, 0, 0, 0, time.UTC)
	if err := os.Chtimes(path, yesterday, yesterday); err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{time.Date(2026, 5, 10, 8, 0, 0, 0, time.UTC)}
	l, err := openLogFile(path, false, false, rotation{when: "MIDNIGHT", interval: 1, utc: true}, clock.now)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	write(t, l, "new\n")
	if got := readFileT(t, path+".2026-05-09"); got != "old\n" {
		t.Errorf("rotated = %q", got)
	}
	if got := readFileT(t, path); got != "new\n" {
		t.Errorf("current = %q", got)
	}
}

func TestRotateAppendsToExistingTarget(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.log")
	clock := &fakeClock{time.Date(2026, 5, 10, 8, 0, 0, 0, time.UTC)}
	if err := os.WriteFile(path+".2026-05-10", []byte("other process\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := openLogFile(path, false, false, rotation{when: "MIDNIGHT", interval: 1}, clock.now)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	write(t, l, "mine\n")
	clock.t = clock.t.Add(24 * time.Hour)
	write(t, l, "next\n")
	if got := readFileT(t, path+".2026-05-10"); got != "other process\nmine\n" {
		t.Errorf("rotated = %q", got)
	}
}

func TestRotateHourlyWithBackups(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.log")
	clock := &fakeClock{time.Date(2026, 1, 1, 0, 30, 0, 0, time.UTC)}
	l, err := openLogFile(path, false, false, rotation{when: "H", interval: 1, backups: 2}, clock.now)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for range 5 {
		write(t, l, "x\n")
		clock.t = clock.t.Add(time.Hour)
	}
	write(t, l, "last\n")
	// Rotations happened at 01:30, 02:30, 03:30, 04:30, 05:30; two backups are kept.
	want := []string{"s.log", "s.log.2026-01-01_03", "s.log.2026-01-01_04"}
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Errorf("files = %q, want %q", got, want)
	}
}

func TestRotateBySize(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.log")
	l, err := openLogFile(path, false, false, rotation{maxBytes: 10, backups: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, s := range []string{"aaa\n", "bbb\n", "ccc\n", "ddd\n", "eee\n", "a-very-long-record\n"} {
		write(t, l, s)
	}
	for name, want := range map[string]string{
		"s.log":   "a-very-long-record\n",
		"s.log.1": "eee\n",
		"s.log.2": "ccc\nddd\n",
	} {
		if got := readFileT(t, filepath.Join(dir, name)); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if got := dirNames(t, dir); len(got) != 3 {
		t.Errorf("files = %q", got)
	}
}

func TestNoRotationWithoutBackups(t *testing.T) {
	// Python never rotates by size when backupCount is 0.
	dir := t.TempDir()
	path := filepath.Join(dir, "s.log")
	if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := openLogFile(path, false, true, rotation{maxBytes: 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	write(t, l, "12345\n")
	write(t, l, "6\n")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readFileT(t, path); got != "old\n12345\n6\n" {
		t.Errorf("file = %q", got)
	}
	if _, err := l.Write([]byte("x")); err == nil {
		t.Error("write after close succeeded")
	}
}

func TestTruncateMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.log")
	if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := openLogFile(path, true, false, rotation{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	write(t, l, "new\n")
	l.Close()
	if got := readFileT(t, path); got != "new\n" {
		t.Errorf("file = %q", got)
	}
}

func TestRotationSchedule(t *testing.T) {
	// 2026-03-04 is a Wednesday.
	base := time.Date(2026, 3, 4, 10, 15, 30, 0, time.UTC)
	tests := []struct {
		rot  rotation
		want time.Time
	}{
		{rotation{when: "S", interval: 10}, base.Add(10 * time.Second)},
		{rotation{when: "M", interval: 1}, base.Add(time.Minute)},
		{rotation{when: "H", interval: 3}, base.Add(3 * time.Hour)},
		{rotation{when: "D", interval: 1}, base.Add(24 * time.Hour)},
		{rotation{when: "MIDNIGHT", interval: 1}, time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)},
		{rotation{when: "MIDNIGHT", interval: 2}, time.Date(2026, 3, 6, 0, 0, 0, 0, time.UTC)},
		// W2 is Wednesday in Python's numbering: roll over as Wednesday ends.
		{rotation{when: "W2", interval: 1}, time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)},
		{rotation{when: "W0", interval: 1}, time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)},
		{rotation{when: "W6", interval: 1}, time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		if got := tt.rot.next(base); !got.Equal(tt.want) {
			t.Errorf("%s x%d: next = %v, want %v", tt.rot.when, tt.rot.interval, got, tt.want)
		}
		if got := tt.rot.previous(tt.rot.next(base)); tt.rot.when != "MIDNIGHT" && tt.rot.when[0] != 'W' && !got.Equal(base) {
			t.Errorf("%s: previous(next) = %v, want %v", tt.rot.when, got, base)
		}
	}
}
