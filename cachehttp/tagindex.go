package cachehttp

import (
	"strings"
	"sync"
)

// tagIndex maps tags to the entries of a store that carry them, so a tag
// invalidation visits the entries of its tags and nothing else: the memory
// backend's entries (ID is the first byte of the stored value) and the L1's
// items (ID is the item). It holds one record per tagged entry in the
// store: the store's deletion hook (left) drops a record when its value
// leaves the store (deleted, overwritten, evicted or expired), so the index
// is bounded like the store itself.
type tagIndex[ID comparable] struct {
	prefix string
	mu     sync.Mutex // a leaf lock: never held across a write to the store
	byName map[string]indexed[ID]
	byTag  map[string]tagMembers
}

// tagMembers holds the names of the entries carrying one tag: the first in
// one, so a tag that a single entry carries (a user's or an item's tag)
// costs no set of its own, and the others in more.
type tagMembers struct {
	one  string // "" when empty: names are never empty
	more map[string]struct{}
}

func (m *tagMembers) add(name string) {
	switch {
	case m.one == name:
	case m.one == "" && len(m.more) == 0:
		m.one = name
	case m.more == nil:
		m.more = map[string]struct{}{name: {}}
	default:
		m.more[name] = struct{}{}
	}
}

func (m *tagMembers) remove(name string) {
	if m.one == name {
		m.one = ""
	} else {
		delete(m.more, name)
	}
	if len(m.more) == 0 {
		m.more = nil
	}
}

func (m *tagMembers) len() int {
	n := len(m.more)
	if m.one != "" {
		n++
	}
	return n
}

func (m *tagMembers) has(name string) bool {
	_, ok := m.more[name]
	return ok || name != "" && m.one == name
}

// indexed is the record of one entry: the value it was made for and its
// tags.
type indexed[ID comparable] struct {
	// id identifies the indexed value: a value leaving the store drops
	// the record only if it is that value, not an older one it replaced.
	id   ID
	tags []string
}

// Memory the index keeps per entry, which the store it follows counts as
// part of the entry's weight (indexWeight), so the index is bounded by the
// store's bytes (Options.MemoryBytes, Options.L1Bytes) and not only by
// its count of entries: a record, and per tag its place in byTag or in a
// member set and the tag itself. Measured on 64-bit Go with tags unique to
// their entry (TestTagIndexWithinMemoryBytes) and shared by many.
const (
	indexRecordCost = 96
	indexTagCost    = 112
)

// indexWeight returns the bytes the index keeps for an entry with tags.
func indexWeight(tags []string) int {
	if len(tags) == 0 {
		return 0
	}
	n := indexRecordCost
	for _, t := range tags {
		n += indexTagCost + len(t)
	}
	return n
}

func newTagIndex[ID comparable](prefix string) *tagIndex[ID] {
	return &tagIndex[ID]{prefix: prefix, byName: make(map[string]indexed[ID]), byTag: make(map[string]tagMembers)}
}

// holds reports whether the record of name is for the value id.
func (x *tagIndex[ID]) holds(name string, id ID) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	r, ok := x.byName[name]
	return ok && r.id == id
}

// add records that the value id under name carries tags, in place of
// whatever name held. The caller writes the value itself after add (and
// then serialises writers of name) or before add, and then passes current,
// which add calls under its lock to check the store still holds id.
func (x *tagIndex[ID]) add(name string, id ID, tags []string, current func() bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if current != nil && !current() {
		return // a later write of name replaced id: its writer records it
	}
	if old, had := x.byName[name]; had {
		x.unlink(name, old.tags)
		delete(x.byName, name)
	}
	if len(tags) == 0 {
		return
	}
	x.byName[name] = indexed[ID]{id: id, tags: tags}
	for _, t := range tags {
		m := x.byTag[t]
		m.add(name)
		x.byTag[t] = m
	}
}

// rebind makes the record of name, made for old, stand for v (a rewrite of
// the same entry with the same tags). It reports false when name has no
// record for old: the entry left the store meanwhile.
func (x *tagIndex[ID]) rebind(name string, old, v ID) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	r, ok := x.byName[name]
	if !ok || r.id != old {
		return false
	}
	r.id = v
	x.byName[name] = r
	return true
}

// left is the store's deletion hook: it drops the record of name when id
// is the value it was made for.
func (x *tagIndex[ID]) left(name string, id ID) {
	if !strings.HasPrefix(name, x.prefix) {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if r, ok := x.byName[name]; ok && r.id == id {
		x.unlink(name, r.tags)
		delete(x.byName, name)
	}
}

// unlink removes name from the member sets of tags; the caller holds mu.
func (x *tagIndex[ID]) unlink(name string, tags []string) {
	for _, t := range tags {
		if m, ok := x.byTag[t]; ok {
			m.remove(name)
			if m.len() == 0 {
				delete(x.byTag, t)
			} else {
				x.byTag[t] = m
			}
		}
	}
}

// members returns the names of the entries carrying tag.
func (x *tagIndex[ID]) members(tag string) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	m := x.byTag[tag]
	if m.len() == 0 {
		return nil
	}
	out := make([]string, 0, m.len())
	if m.one != "" {
		out = append(out, m.one)
	}
	for name := range m.more {
		out = append(out, name)
	}
	return out
}

// size returns how many entries and tags the index holds.
func (x *tagIndex[ID]) size() (entries, tags int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.byName), len(x.byTag)
}
