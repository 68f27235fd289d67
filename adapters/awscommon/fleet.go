package awscommon

import (
	"slices"
	"sync"
)

// Fleet is the ids of the units a manager started (ECS tasks, EC2 instances), oldest first,
// and whether the manager is closing. Its methods are safe for concurrent use.
type Fleet struct {
	mu     sync.Mutex
	ids    []string
	closed bool
}

// Len is the number of units.
func (f *Fleet) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ids)
}

// Closed reports whether Close was called.
func (f *Fleet) Closed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

// Add records units that started. It reports whether Close ran meanwhile: the caller must
// then stop them, as they must not outlive the manager.
func (f *Fleet) Add(ids ...string) (closed bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ids = append(f.ids, ids...)
	return f.closed
}

// Remove forgets a unit that was stopped or ended on its own.
func (f *Fleet) Remove(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i := slices.Index(f.ids, id); i >= 0 {
		f.ids = slices.Delete(f.ids, i, i+1)
	}
}

// Oldest returns the ids of the n oldest units.
func (f *Fleet) Oldest(n int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ids[:min(n, len(f.ids))])
}

// IDs returns the ids of every unit.
func (f *Fleet) IDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ids)
}

// Close marks the fleet closing and returns the ids of every unit; again reports whether
// Close had been called before.
func (f *Fleet) Close() (ids []string, again bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	again, f.closed = f.closed, true
	return slices.Clone(f.ids), again
}
