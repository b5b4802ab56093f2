package cachehttp

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"time"

	"github.com/aura-platform/redishttp/fallback"
)

// memoryBackend keeps entries in a fallback.MemoryStore: the backend while
// Redis is down and in embedded mode. It has the same semantics as the Redis
// one within the process (lease placeholders, tag stamps, live-key counts);
// invalidations walk the store.
type memoryBackend struct {
	s         *fallback.MemoryStore
	l         layout
	stampLife time.Duration
	now       func() time.Time

	mu     sync.Mutex // serialises check-and-write sequences
	stamps map[string]time.Time
}

func newMemoryBackend(s *fallback.MemoryStore, l layout, stampLife time.Duration, now func() time.Time) *memoryBackend {
	return &memoryBackend{s: s, l: l, stampLife: stampLife, now: now, stamps: make(map[string]time.Time)}
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
	for _, t := range w.tags {
		if at, ok := m.stamps[t]; ok && !at.Before(w.started.Truncate(time.Millisecond)) {
			if w.token != nil {
				m.s.Delete(w.key.name)
			}
			m.s.Delete(m.l.lease(w.key)) // as store.lua does: the next refresh may run
			return false, nil
		}
	}
	m.s.Delete(m.l.lease(w.key)) // the refresh lease, if any
	m.s.Set(w.key.name, w.value, w.ttl)
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

func (m *memoryBackend) invalidateTags(_ context.Context, tags []string) (int, error) {
	now := m.now()
	m.mu.Lock()
	for t, at := range m.stamps { // forget stamps no load can still race
		if now.Sub(at) > m.stampLife {
			delete(m.stamps, t)
		}
	}
	for _, t := range tags {
		m.stamps[t] = now.Truncate(time.Millisecond)
	}
	m.mu.Unlock()
	want := make(map[string]bool, len(tags))
	for _, t := range tags {
		want[t] = true
	}
	return m.deleteWhere(func(_ string, e *entry) bool {
		for _, t := range e.tags {
			if want[t] {
				return true
			}
		}
		return false
	}), nil
}

// deleteWhere removes the entries (under this cache's prefix) for which
// match returns true and returns how many.
func (m *memoryBackend) deleteWhere(match func(esc string, e *entry) bool) int {
	return m.s.DeleteFunc(func(name string) bool {
		_, esc, ok := m.l.parse(name)
		if !ok {
			return false
		}
		v, ok := m.s.Get(name)
		if !ok || isLease(v) {
			return false
		}
		e, err := decodeEntry(v)
		if err != nil {
			return true
		}
		return match(esc, &e)
	})
}

func (m *memoryBackend) invalidateMatch(_ context.Context, scanGlob string, keep func(esc string) bool) (int, error) {
	return m.deleteWhere(func(esc string, _ *entry) bool {
		return globMatch(scanGlob, esc) && keep(esc)
	}), nil
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
