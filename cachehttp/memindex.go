package cachehttp

import (
	"strings"
	"sync"
)

// tagIndex maps tags to the memory store's entries that carry them, so a
// tag invalidation visits the entries of its tags and nothing else. It holds
// one record per tagged entry of this cache in the store: the store's Watch
// drops a record when its value leaves the store (deleted, overwritten,
// evicted or expired), so the index is bounded by the store's byte bound
// like the entries themselves.
type tagIndex struct {
	prefix string
	mu     sync.Mutex // a leaf lock: never held across a call of the store
	byName map[string]indexed
	byTag  map[string]map[string]struct{}
}

// indexed is the record of one entry: the value it was made for and its
// tags.
type indexed struct {
	// val is the first byte of the indexed value: a value leaving the
	// store drops the record only if it is that value, not an older one
	// it replaced.
	val  *byte
	tags []string
}

func newTagIndex(prefix string) *tagIndex {
	return &tagIndex{prefix: prefix, byName: make(map[string]indexed), byTag: make(map[string]map[string]struct{})}
}

// add records that v, about to be written under name, carries tags, in
// place of whatever name held. It returns the value to write: v, or a copy
// when v is the very value already recorded (its leaving would otherwise
// drop the new record).
func (x *tagIndex) add(name string, v []byte, tags []string) []byte {
	x.mu.Lock()
	defer x.mu.Unlock()
	old, had := x.byName[name]
	if had && len(v) > 0 && old.val == &v[0] {
		v = append([]byte(nil), v...)
	}
	if had {
		x.unlink(name, old.tags)
		delete(x.byName, name)
	}
	if len(tags) == 0 || len(v) == 0 {
		return v
	}
	x.byName[name] = indexed{val: &v[0], tags: tags}
	for _, t := range tags {
		m := x.byTag[t]
		if m == nil {
			m = make(map[string]struct{}, 1)
			x.byTag[t] = m
		}
		m[name] = struct{}{}
	}
	return v
}

// rebind makes the record of name, made for old, stand for v (a rewrite of
// the same entry with the same tags). It reports false when name has no
// record for old: the entry left the store meanwhile.
func (x *tagIndex) rebind(name string, old, v []byte) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	r, ok := x.byName[name]
	if !ok || len(old) == 0 || len(v) == 0 || r.val != &old[0] {
		return false
	}
	r.val = &v[0]
	x.byName[name] = r
	return true
}

// left is the store's Watch function: it drops the record of name when
// value is the value it was made for.
func (x *tagIndex) left(name string, value []byte) {
	if len(value) == 0 || !strings.HasPrefix(name, x.prefix) {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if r, ok := x.byName[name]; ok && r.val == &value[0] {
		x.unlink(name, r.tags)
		delete(x.byName, name)
	}
}

// unlink removes name from the member sets of tags; the caller holds mu.
func (x *tagIndex) unlink(name string, tags []string) {
	for _, t := range tags {
		if m := x.byTag[t]; m != nil {
			delete(m, name)
			if len(m) == 0 {
				delete(x.byTag, t)
			}
		}
	}
}

// members returns the names of the entries carrying tag.
func (x *tagIndex) members(tag string) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	m := x.byTag[tag]
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for name := range m {
		out = append(out, name)
	}
	return out
}

// size returns how many entries and tags the index holds.
func (x *tagIndex) size() (entries, tags int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.byName), len(x.byTag)
}

// maxStamps bounds the tag invalidation stamps a memory backend keeps
// (about 100 bytes each plus the tag).
const maxStamps = 1 << 16

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
		if at, ok := s.at[t]; ok && at >= ms {
			return true
		}
	}
	return false
}

// len returns how many stamps are live and how many queue items are held.
func (s *stampLog) len() (stamps, queued int) { return len(s.at), len(s.queue) - s.head }
