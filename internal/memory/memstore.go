package memory

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
)

// DefaultStoreBytes is the default size bound of a Store: 64 MiB.
const DefaultStoreBytes = 64 << 20

// Store is a TTL'd key/value store bounded by bytes, evicting with
// W-TinyLFU (github.com/maypok86/otter/v2). The feature packages use it
// while Redis is down and as the embedded default. Values are stored as
// given: callers must not modify a slice after Set or after Get.
type Store struct {
	c *otter.Cache[string, memEntry]
	// otter evicts asynchronously: under a burst of writes, entries over
	// the bound stay in memory until its maintenance catches up, which
	// with large values can be many times the bound. Writes count their
	// weight here and force the maintenance once slack bytes went in since
	// the last time, so live data stays within maxBytes + slack (+ one
	// value).
	written atomic.Int64
	slack   int64

	watchMu  sync.Mutex                 // serialises Watch and its stops
	watchers atomic.Pointer[[]*watcher] // read on every value that leaves
}

// watcher is one function registered with Watch.
type watcher struct {
	fn func(key string, value []byte)
}

type memEntry struct {
	val   []byte
	ttl   time.Duration
	extra uint32 // bytes the writer keeps outside the store for it (SetWeighted)
}

// entryOverhead approximates the bookkeeping bytes of one entry.
const entryOverhead = 64

// NewStore returns a store holding at most maxBytes of keys and values
// (DefaultStoreBytes when maxBytes <= 0). Close stops its clean-up goroutine.
func NewStore(maxBytes int64) *Store {
	if maxBytes <= 0 {
		maxBytes = DefaultStoreBytes
	}
	s := &Store{slack: maxBytes / 8}
	s.c = otter.Must(&otter.Options[string, memEntry]{
		MaximumWeight: uint64(maxBytes),
		Weigher: func(k string, v memEntry) uint32 {
			return weight(k, v.val, v.extra)
		},
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, memEntry]) time.Duration {
			return e.Value.ttl
		}),
		OnAtomicDeletion: s.left,
	})
	return s
}

// left tells the watchers that a value left the store. otter calls it under
// the key's bucket lock, as part of the deletion, replacement, eviction or
// expiry.
func (s *Store) left(e otter.DeletionEvent[string, memEntry]) {
	if ws := s.watchers.Load(); ws != nil {
		for _, w := range *ws {
			w.fn(e.Key, e.Value.val)
		}
	}
}

// Watch registers fn to run each time a value leaves the store: deleted,
// replaced by a Set, evicted to stay within the bound, expired, or removed
// by Clear. fn receives the key and the value that left (the slice given to
// Set, so its identity tells which write it was). It lets a caller keep a
// secondary index exactly in step with the store.
//
// fn runs synchronously, while the store holds a lock on the key: it must
// be quick and must not call the store, nor wait for anything that does,
// or it may deadlock. The returned function unregisters fn.
func (s *Store) Watch(fn func(key string, value []byte)) (stop func()) {
	w := &watcher{fn: fn}
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	var ws []*watcher
	if cur := s.watchers.Load(); cur != nil {
		ws = slices.Clone(*cur)
	}
	ws = append(ws, w)
	s.watchers.Store(&ws)
	return func() {
		s.watchMu.Lock()
		defer s.watchMu.Unlock()
		cur := s.watchers.Load()
		if cur == nil {
			return
		}
		ws := slices.DeleteFunc(slices.Clone(*cur), func(x *watcher) bool { return x == w })
		if len(ws) == 0 {
			s.watchers.Store(nil)
			return
		}
		s.watchers.Store(&ws)
	}
}

func weight(k string, v []byte, extra uint32) uint32 {
	n := uint64(len(k)) + uint64(len(v)) + entryOverhead + uint64(extra)
	if n > uint64(^uint32(0)) {
		return ^uint32(0)
	}
	return uint32(n)
}

// wrote accounts for a write of n bytes and runs otter's pending
// maintenance (eviction) once slack bytes were written since the last run.
func (s *Store) wrote(n uint32) {
	if s.written.Add(int64(n)) > s.slack {
		s.written.Store(0)
		s.c.CleanUp()
	}
}

// Get returns the value stored under key, if present and not expired.
func (s *Store) Get(key string) ([]byte, bool) {
	e, ok := s.c.GetIfPresent(key)
	return e.val, ok
}

// TTL returns the time key has left to live, if present.
func (s *Store) TTL(key string) (time.Duration, bool) {
	e, ok := s.c.GetEntryQuietly(key)
	if !ok {
		return 0, false
	}
	return e.ExpiresAfter(), true
}

// Set stores val under key for ttl. A ttl <= 0 deletes the key (nothing is
// ever stored forever by accident).
func (s *Store) Set(key string, val []byte, ttl time.Duration) {
	if ttl <= 0 {
		s.c.Invalidate(key)
		return
	}
	s.c.Set(key, memEntry{val: val, ttl: ttl})
	s.wrote(weight(key, val, 0))
}

// SetWeighted is Set for a value for which the caller keeps extra bytes
// in memory outside the store (a secondary index such as Watch makes
// possible): they count against the store's bound with the value's own
// weight, so the index stays bounded with the store. A negative extra
// counts as 0.
func (s *Store) SetWeighted(key string, val []byte, ttl time.Duration, extra int) {
	if ttl <= 0 {
		s.c.Invalidate(key)
		return
	}
	x := uint32(min(max(extra, 0), int(^uint32(0)>>1)))
	s.c.Set(key, memEntry{val: val, ttl: ttl, extra: x})
	s.wrote(weight(key, val, x))
}

// SetNX stores val under key for ttl only if key is absent, and reports
// whether it did.
func (s *Store) SetNX(key string, val []byte, ttl time.Duration) bool {
	if ttl <= 0 {
		return false
	}
	_, stored := s.c.SetIfAbsent(key, memEntry{val: val, ttl: ttl})
	if stored {
		s.wrote(weight(key, val, 0))
	}
	return stored
}

// Delete removes keys and returns how many were present.
func (s *Store) Delete(keys ...string) int {
	n := 0
	for _, k := range keys {
		if _, ok := s.c.Invalidate(k); ok {
			n++
		}
	}
	return n
}

// DeletePrefix removes every key starting with prefix and returns how many.
func (s *Store) DeletePrefix(prefix string) int {
	return s.DeleteFunc(func(k string) bool { return strings.HasPrefix(k, prefix) })
}

// DeleteFunc removes every key for which match returns true and returns how
// many. It walks the whole store: meant for invalidation, not the hot path.
func (s *Store) DeleteFunc(match func(key string) bool) int {
	var del []string
	for k := range s.c.Keys() {
		if match(k) {
			del = append(del, k)
		}
	}
	return s.Delete(del...)
}

// Len returns the approximate number of live entries.
func (s *Store) Len() int { return s.c.EstimatedSize() }

// Bytes returns the approximate weight of the live entries.
func (s *Store) Bytes() uint64 { return s.c.WeightedSize() }

// Clear removes every entry. The store is private to the process, so this
// never touches anything shared.
func (s *Store) Clear() { s.c.InvalidateAll() }

// Close stops the store's clean-up goroutine. The store keeps working (lazy
// expiry only) after Close.
func (s *Store) Close() error {
	s.c.StopAllGoroutines()
	return nil
}
