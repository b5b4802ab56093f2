package cachehttp

import (
	"github.com/aura-platform/redishttp/internal/keytext"
	"github.com/aura-platform/redishttp/middleware"
)

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
