package scheduler

import (
	"bytes"
	"time"

	"github.com/scaler-go/scaler/core/protocol"
)

// objectTable is the scheduler's bookkeeping of objects in object storage (spec §7.2, §8.8):
// each object has one holder, a client; it is deleted when the holder drops it or leaves.
// Objects announced for a client that is not (or no longer) connected are orphans, kept for
// the retention time so the client can still adopt them, then deleted — the reference drops
// such announcements and the objects leak in object storage forever.
type objectTable struct {
	objects map[protocol.ObjectID]*objectEntry
	byOwner map[string]map[protocol.ObjectID]struct{}
	orphans map[protocol.ObjectID]struct{}
	// pending deletions, flushed to object storage (and to workers' caches) once a second.
	pendingDelete []protocol.ObjectID
	pendingEvict  [][]byte
}

type objectEntry struct {
	owner string
	// name is kept only when it says something: generated "<obj ...>"/"<res ...>" names
	// are not stored, to keep per-object memory small on million-task runs.
	name        []byte
	typ         protocol.ObjectContentType
	input       bool
	orphanSince time.Time
}

func newObjectTable() objectTable {
	return objectTable{
		objects: map[protocol.ObjectID]*objectEntry{},
		byOwner: map[string]map[protocol.ObjectID]struct{}{},
		orphans: map[protocol.ObjectID]struct{}{},
	}
}

func (o *objectTable) len() int { return len(o.objects) }

// compact replaces the maps when they are (nearly) empty after having grown.
func (o *objectTable) compact() {
	if len(o.objects) > 1024 {
		return
	}
	objects := make(map[protocol.ObjectID]*objectEntry, len(o.objects))
	for k, v := range o.objects {
		objects[k] = v
	}
	byOwner := make(map[string]map[protocol.ObjectID]struct{}, len(o.byOwner))
	for owner, set := range o.byOwner {
		n := make(map[protocol.ObjectID]struct{}, len(set))
		for id := range set {
			n[id] = struct{}{}
		}
		byOwner[owner] = n
	}
	orphans := make(map[protocol.ObjectID]struct{}, len(o.orphans))
	for id := range o.orphans {
		orphans[id] = struct{}{}
	}
	o.objects, o.byOwner, o.orphans = objects, byOwner, orphans
}

func (o *objectTable) create(id protocol.ObjectID, owner string, typ protocol.ObjectContentType, name []byte, ownerKnown bool, now time.Time) {
	e := o.objects[id]
	if e == nil {
		e = &objectEntry{}
		o.objects[id] = e
	} else {
		o.unlink(id, e)
	}
	e.owner, e.typ = owner, typ
	if len(name) > 0 && name[0] != '<' {
		e.name = bytes.Clone(name)
	} else {
		e.name = nil
	}
	if ownerKnown {
		o.own(owner, id)
		e.orphanSince = time.Time{}
	} else {
		e.orphanSince = now
		o.orphans[id] = struct{}{}
	}
}

// own files id under its connected owner.
func (o *objectTable) own(owner string, id protocol.ObjectID) {
	set := o.byOwner[owner]
	if set == nil {
		set = map[protocol.ObjectID]struct{}{}
		o.byOwner[owner] = set
	}
	set[id] = struct{}{}
}

func (o *objectTable) unlink(id protocol.ObjectID, e *objectEntry) {
	if set := o.byOwner[e.owner]; set != nil {
		delete(set, id)
		if len(set) == 0 {
			delete(o.byOwner, e.owner)
		}
	}
	delete(o.orphans, id)
}

// remove forgets an object and schedules its deletion from object storage.
func (o *objectTable) remove(id protocol.ObjectID) bool {
	e := o.objects[id]
	if e == nil {
		return false
	}
	o.unlink(id, e)
	delete(o.objects, id)
	o.pendingDelete = append(o.pendingDelete, id)
	// Only objects that went into a task can sit in a worker's cache.
	if e.input || e.typ == protocol.ObjectSerializer {
		o.pendingEvict = append(o.pendingEvict, append([]byte(nil), id[:]...))
	}
	return true
}

// dropOwner deletes every object of a departing client.
func (o *objectTable) dropOwner(owner string) int {
	set := o.byOwner[owner]
	n := 0
	for id := range set {
		if o.remove(id) {
			n++
		}
	}
	delete(o.byOwner, owner)
	return n
}

// adopt gives orphans announced for owner to it, now that it is connected.
func (o *objectTable) adopt(owner string) int {
	n := 0
	for id := range o.orphans {
		e := o.objects[id]
		if e == nil || e.owner != owner {
			continue
		}
		delete(o.orphans, id)
		e.orphanSince = time.Time{}
		o.own(owner, id)
		n++
	}
	return n
}

func (o *objectTable) expireOrphans(now time.Time, retention time.Duration) {
	for id := range o.orphans {
		if e := o.objects[id]; e == nil || now.Sub(e.orphanSince) >= retention {
			o.remove(id)
		}
	}
}

func (o *objectTable) markInput(raw []byte) {
	if id, ok := protocol.ObjectIDFromBytes(raw); ok {
		if e := o.objects[id]; e != nil {
			e.input = true
		}
	}
}

var unknownName = []byte("<Unknown>")

// name is the object's name for monitors: its announced name, or the generated one.
func (o *objectTable) name(raw []byte) []byte {
	id, ok := protocol.ObjectIDFromBytes(raw)
	if !ok {
		return unknownName
	}
	e := o.objects[id]
	if e == nil {
		return unknownName
	}
	if e.name != nil {
		return e.name
	}
	return []byte("<obj " + id.Name() + ">")
}

func (s *State) onObjectInstruction(now time.Time, peer string, m *protocol.ObjectInstruction) {
	owner := sourceOf(m.User, peer)
	switch m.Type {
	case protocol.InstructionCreate:
		_, known := s.clients[owner]
		for i, raw := range m.IDs {
			id, ok := protocol.ObjectIDFromBytes(raw)
			if !ok {
				s.log.Warn("ignoring object with a malformed id", "peer", peer, "bytes", len(raw))
				continue
			}
			typ := protocol.ObjectObject
			if i < len(m.Types) {
				typ = m.Types[i]
			}
			var name []byte
			if i < len(m.Names) {
				name = m.Names[i]
			}
			s.objects.create(id, owner, typ, name, known, now)
		}
	case protocol.InstructionDelete:
		for _, raw := range m.IDs {
			id, ok := protocol.ObjectIDFromBytes(raw)
			if !ok {
				continue
			}
			if e := s.objects.objects[id]; e != nil && e.owner == owner {
				s.objects.remove(id)
			}
		}
	case protocol.InstructionClear:
		// Python clients turn clear into delete themselves; honour it anyway: everything
		// of the client except its serializer.
		for id := range s.objects.byOwner[owner] {
			if e := s.objects.objects[id]; e != nil && e.typ != protocol.ObjectSerializer {
				s.objects.remove(id)
			}
		}
	}
}

// flushDeletes tells workers to evict deleted objects from their caches and deletes them
// from object storage, in one batch.
func (s *State) flushDeletes() {
	o := &s.objects
	if len(o.pendingEvict) > 0 {
		msg := &protocol.ObjectInstruction{Type: protocol.InstructionDelete, IDs: o.pendingEvict}
		if b, err := protocol.Encode(msg); err == nil {
			for _, w := range s.sortedWorkers() {
				s.sendRaw(w, protocol.KindObjectInstruction, b)
			}
		}
		o.pendingEvict = nil
	}
	if len(o.pendingDelete) > 0 {
		s.fx.DeleteObjects(o.pendingDelete)
		o.pendingDelete = nil
	}
}
