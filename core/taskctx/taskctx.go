// Package taskctx carries what a running task knows about the cluster it runs in, so code
// inside a task can open a nested client: client.Connect(ctx, "") finds the scheduler, and
// its tasks get the parent's priority + 1, which lets a worker run them even while the
// parent occupies its slot (spec/protocol.md §9.10).
package taskctx

import "context"

// Info describes the task a context belongs to.
type Info struct {
	// Scheduler is the address the worker is connected to.
	Scheduler string
	// ObjectStorage is the object storage address the worker uses.
	ObjectStorage string
	// Backend is the worker's network backend name.
	Backend string
	// Priority is the task's priority.
	Priority int32
}

type key struct{}

// With returns a context carrying info.
func With(ctx context.Context, info Info) context.Context { return context.WithValue(ctx, key{}, info) }

// From returns the task information of ctx, if it belongs to a task.
func From(ctx context.Context) (Info, bool) {
	info, ok := ctx.Value(key{}).(Info)
	return info, ok
}
