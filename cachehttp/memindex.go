package cachehttp

import (
	"strings"
	"sync"

	"github.com/aura-platform/redishttp/internal/keytext"
	"github.com/aura-platform/redishttp/middleware"
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

// maxStamps bounds the tag invalidation stamps a memory backend keeps:
// about 100 bytes each plus the tag, which stampKey bounds to
// 128 bytes, so the stamps hold at most about 15 MB
// however long the tags.
const maxStamps = 1 << 16

// stampKey is what a stamp of tag is kept under: the tag itself up to
// 128 bytes, its digest (middleware.KeyPart) beyond, as
// the Redis backend's stamp keys do. A short tag spelled like a digest can
// share a long tag's stamp: a load it refuses is served, not stored, which
// is safe.
func stampKey(tag string) string {
	if len(tag) <= keytext.MaxPart {
		return tag
	}
	return middleware.KeyPart(tag)
}

// stampLog holds the recent tag invalidation stamps of the memory backend:
// a load that started at or before its tag's stamp does not store its
// result. Stamps are kept in the order they were made, so forgetting the
// expired ones takes the oldest few at each invalidation, never a walk of
// all of them. When more than max are live, the oldest is forgotten early
// and floor remembers its time: every tagged load that started at or before
// floor is refused instead (served, not stored), so the bound never lets an
// outdated result in.
type stampLog struct {
	at    map[string]int64 // tag -> its latest stamp, Unix ms
	queue []stamp          // queue[head:]: stamps oldest first, superseded ones included
	head  int
	floor int64
	max   int
	peak  int // largest len(at) since at was last made, to release its memory once empty
}

type stamp struct {
	tag string
	at  int64
}

func newStampLog() *stampLog {
	return &stampLog{at: make(map[string]int64), max: maxStamps}
}

// add stamps tag at ms, forgetting the oldest stamp early when over max.
func (s *stampLog) add(tag string, ms int64) {
	tag = stampKey(tag)
	s.at[tag] = ms
	s.peak = max(s.peak, len(s.at))
	s.queue = append(s.queue, stamp{tag: tag, at: ms})
	for len(s.queue)-s.head > s.max {
		s.pop(true)
	}
}

// expire forgets up to n stamps made before cutoff, oldest first, and
// returns how many queue items it took.
func (s *stampLog) expire(cutoff int64, n int) int {
	k := 0
	for ; k < n && s.head < len(s.queue) && s.queue[s.head].at < cutoff; k++ {
		s.pop(false)
	}
	return k
}

// pop removes the oldest queue item; its tag's stamp goes with it unless a
// later stamp superseded it. early says the stamp is still needed: floor
// then takes its place.
func (s *stampLog) pop(early bool) {
	st := s.queue[s.head]
	s.queue[s.head] = stamp{}
	s.head++
	if cur, ok := s.at[st.tag]; ok && cur == st.at {
		delete(s.at, st.tag)
		if early {
			s.floor = max(s.floor, st.at)
		}
	}
	switch {
	case s.head == len(s.queue):
		s.queue, s.head = s.queue[:0], 0
	case s.head >= 1024 && 2*s.head >= len(s.queue):
		n := copy(s.queue, s.queue[s.head:])
		clear(s.queue[n:])
		s.queue, s.head = s.queue[:n], 0
	}
	if len(s.at) == 0 && s.peak > 1024 { // Go maps keep their peak size
		s.at, s.peak = make(map[string]int64), 0
		s.queue, s.head = nil, 0 // what it still held was superseded
	}
}

// refuses reports whether a load of an entry with tags that started at ms
// must not store its result: one of its tags was invalidated at or after
// the load started.
func (s *stampLog) refuses(tags []string, ms int64) bool {
	if len(tags) == 0 {
		return false
	}
	if s.floor >= ms {
		return true
	}
	for _, t := range tags {
		if at, ok := s.at[stampKey(t)]; ok && at >= ms {
			return true
		}
	}
	return false
}

// len returns how many stamps are live and how many queue items are held.
func (s *stampLog) len() (stamps, queued int) { return len(s.at), len(s.queue) - s.head }
