package cachehttp

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aura-platform/redishttp/internal/memory"
)

// memoryBackend keeps entries in a memory.Store: the backend while
// Redis is down and in embedded mode. It has the same semantics as the Redis
// one within the process (lease placeholders, tag stamps, live-key counts).
// A tag invalidation costs what the tag covers: an index from tags to
// entries finds them, and stamps expire a few at a time. A pattern
// invalidation walks the store.
type memoryBackend struct {
	s         *memory.Store
	l         layout
	stampLife time.Duration
	now       func() time.Time

	// mu serialises check-and-write sequences: every write of an entry and
	// every invalidation's removal of one, and the stamps.
	mu     sync.Mutex
	stamps *stampLog
	idx    *tagIndex[*byte] // by the first byte of the stored value
	stop   func()           // ends the store's Watch of idx

	// work counts what invalidations visited (index members, expired
	// stamps, keys walked): tests read it to show that a tag
	// invalidation's cost does not depend on other tags.
	work atomic.Int64
}

// patternCheckEvery is how many keys a pattern invalidation walks between
// checks of its context.
const patternCheckEvery = 256

// expireBatch is how many expired stamps each invalidation forgets besides
// one per tag it stamps, so stamps drain faster than they are made.
const expireBatch = 16

func newMemoryBackend(s *memory.Store, l layout, stampLife time.Duration, now func() time.Time) *memoryBackend {
	m := &memoryBackend{s: s, l: l, stampLife: stampLife, now: now, stamps: newStampLog(), idx: newTagIndex[*byte](l.prefix)}
	m.stop = s.Watch(func(name string, v []byte) {
		if len(v) > 0 {
			m.idx.left(name, &v[0])
		}
	})
	return m
}

// close stops keeping the index: the store may outlive the cache.
func (m *memoryBackend) close() { m.stop() }

// put writes an entry value carrying tags and indexes it; the caller holds
// mu, so the record is made before the write.
func (m *memoryBackend) put(name string, v []byte, tags []string, ttl time.Duration) {
	if ttl <= 0 || len(v) == 0 {
		m.s.Delete(name) // as Set would: nothing is stored forever
		return
	}
	if m.idx.holds(name, &v[0]) {
		// The very value is written again: its replacement must not drop
		// the record.
		v = append([]byte(nil), v...)
	}
	m.idx.add(name, &v[0], tags, nil)
	m.s.SetWeighted(name, v, ttl, indexWeight(tags)) // the index counts against the bound
}

// remove deletes the entry under name, if it is one (not another reader's
// lease placeholder), and reports whether it did.
func (m *memoryBackend) remove(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.s.Get(name); !ok || isLease(v) {
		return false
	}
	return m.s.Delete(name) == 1
}

// stamp records an invalidation of tags now, so that loads in flight do not
// store, and forgets as many expired stamps as it adds and a few more.
func (m *memoryBackend) stamp(tags []string) {
	now := m.now().UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.work.Add(int64(m.stamps.expire(now-m.stampLife.Milliseconds(), len(tags)+expireBatch)))
	for _, t := range tags {
		m.stamps.add(t, now)
	}
}

func (m *memoryBackend) fetch(_ context.Context, k key, token []byte, leaseTTL time.Duration) ([]byte, error) {
	if v, ok := m.s.Get(k.name); ok {
		return v, nil
	}
	if token == nil {
		return nil, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.s.SetNX(k.name, token, leaseTTL) {
		return nil, nil
	}
	v, _ := m.s.Get(k.name)
	return v, nil
}

func (m *memoryBackend) store(_ context.Context, w write) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if w.token != nil {
		if cur, ok := m.s.Get(w.key.name); !ok || !bytes.Equal(cur, w.token) {
			return false, nil
		}
	}
	if m.stamps.refuses(w.tags, w.started.UnixMilli()) {
		if w.token != nil {
			m.s.Delete(w.key.name)
		}
		m.s.Delete(m.l.lease(w.key)) // as store.lua does: the next refresh may run
		return false, nil
	}
	m.s.Delete(m.l.lease(w.key)) // the refresh lease, if any
	m.put(w.key.name, w.value, w.tags, w.ttl)
	return true, nil
}

func (m *memoryBackend) release(_ context.Context, k key, token []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur, ok := m.s.Get(k.name); ok && bytes.Equal(cur, token) {
		m.s.Delete(k.name)
	}
	return nil
}

func (m *memoryBackend) tryLease(_ context.Context, name string, ttl time.Duration) (bool, error) {
	return m.s.SetNX(name, []byte{1}, ttl), nil
}

func (m *memoryBackend) delete(_ context.Context, keys []key) (int, error) {
	n := 0
	for _, k := range keys {
		if v, ok := m.s.Get(k.name); ok && !isLease(v) {
			n++
		}
		m.s.Delete(k.name)
	}
	return n, nil
}

// invalidateTags stamps tags and removes the entries the index lists for
// them: its cost is the entries of tags, whatever else the store holds.
func (m *memoryBackend) invalidateTags(ctx context.Context, tags []string) (int, error) {
	m.stamp(tags)
	n := 0
	for _, t := range tags {
		for i, name := range m.idx.members(t) {
			if i%patternCheckEvery == patternCheckEvery-1 {
				if err := ctx.Err(); err != nil {
					return n, err
				}
			}
			m.work.Add(1)
			if m.remove(name) {
				n++
			}
		}
	}
	return n, nil
}

// invalidateMatch walks the store for this cache's entries whose escaped
// key matches scanGlob and keep. It checks ctx every patternCheckEvery keys
// and returns ctx's error, with what it removed so far, once ctx ends.
func (m *memoryBackend) invalidateMatch(ctx context.Context, scanGlob string, keep func(esc string) bool) (int, error) {
	var (
		names  []string
		walked int
		err    error
	)
	m.s.DeleteFunc(func(name string) bool { // collects only: never deletes
		if err != nil {
			return false
		}
		if walked++; walked%patternCheckEvery == 0 {
			if err = ctx.Err(); err != nil {
				return false
			}
		}
		if _, esc, ok := m.l.parse(name); ok && globMatch(scanGlob, esc) && keep(esc) {
			names = append(names, name)
		}
		return false
	})
	m.work.Add(int64(walked))
	n := 0
	for _, name := range names {
		if m.remove(name) {
			n++
		}
	}
	return n, err
}

func (m *memoryBackend) liveKeys(_ context.Context, routes []string) (map[string]int64, error) {
	out := make(map[string]int64, len(routes))
	for _, r := range routes {
		out[r] = 0
	}
	m.s.DeleteFunc(func(name string) bool { // counts only: never deletes
		if !strings.HasPrefix(name, m.l.prefix) {
			return false
		}
		if _, _, ok := m.l.parse(name); !ok {
			return false
		}
		if v, ok := m.s.Get(name); ok && len(v) > 3 && v[0] == entryMagic {
			rl := int(v[2])
			if 3+rl <= len(v) {
				if r := string(v[3 : 3+rl]); r != "" {
					if _, known := out[r]; known {
						out[r]++
					}
				}
			}
		}
		return false
	})
	return out, nil
}
