package cachehttp

import (
	"hash/maphash"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aura-platform/redishttp/middleware"
	"github.com/maypok86/otter/v2"
)

// defaultL1TTL is the longest an entry stays in the in-process L1 unless
// Options.L1TTL or Route.L1TTL says otherwise. With coherence the L1 is
// invalidated by the invalidation log; the TTL bounds staleness when an
// append to the log fails.
const defaultL1TTL = 5 * time.Second

// l1Item is one decoded entry in the L1.
type l1Item struct {
	sh      *shared
	esc     string // escaped key with suffixes, for pattern and namespace drops
	expires int64  // unix ms: min(fresh-until, stored in L1 + max age)
	weight  uint32
}

// l1Cache is the in-process tier in front of Redis: decoded entries, so a
// hot hit costs neither a round trip nor a decode. It is bounded by bytes
// and evicts with W-TinyLFU (otter). Coherence: every invalidation message
// drops matching items; gen counts drops so that a fill racing a drop never
// leaves an outdated item behind (see l1Put): gen for drops that may touch
// any key (tags, patterns, flushes), stripes for drops of named keys
// (overwrites, deletes), so a store of one key does not void concurrent
// fills of others.
type l1Cache struct {
	c       *otter.Cache[string, *l1Item]
	idx     *tagIndex[*l1Item] // items by tag, so a tag drop visits its items only
	visited atomic.Int64       // items tag drops visited, for tests
	gen     atomic.Uint64
	seed    maphash.Seed
	stripes [256]atomic.Uint64
}

func (l *l1Cache) stripe(name string) *atomic.Uint64 {
	return &l.stripes[maphash.String(l.seed, name)%uint64(len(l.stripes))]
}

func newL1(maxBytes int64, now func() time.Time) *l1Cache {
	l := &l1Cache{seed: maphash.MakeSeed(), idx: newTagIndex[*l1Item]("")}
	l.c = otter.Must(&otter.Options[string, *l1Item]{
		MaximumWeight: uint64(maxBytes),
		Weigher:       func(k string, it *l1Item) uint32 { return it.weight + uint32(min(len(k), 1<<16)) },
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, *l1Item]) time.Duration {
			return max(time.Duration(e.Value.expires-now().UnixMilli())*time.Millisecond, time.Millisecond)
		}),
		OnAtomicDeletion: func(e otter.DeletionEvent[string, *l1Item]) { l.idx.left(e.Key, e.Value) },
	})
	return l
}

// l1Usable reports whether the L1 may be read and filled now.
func (c *Cache) l1Usable() bool { return c.l1 != nil && c.cohUp.Load() }

// l1Gen returns the drop generation of name to pass to l1Put for a fetch
// starting now.
func (c *Cache) l1Gen(name string) uint64 {
	if c.l1 == nil {
		return 0
	}
	return c.l1.gen.Load() + c.l1.stripe(name).Load()
}

// l1Get returns the fresh L1 item under name, or nil.
func (c *Cache) l1Get(name string) *l1Item {
	if !c.l1Usable() {
		return nil
	}
	return c.l1GetAt(name, c.now().UnixMilli())
}

// l1GetAt is l1Get at a clock reading (Unix ms) the caller already took.
func (c *Cache) l1GetAt(name string, now int64) *l1Item {
	if !c.l1Usable() {
		return nil
	}
	it, ok := c.l1.c.GetIfPresent(name)
	if !ok || now >= it.expires {
		return nil
	}
	return it
}

// l1Put stores a fresh entry fetched from Redis. gen is l1Gen from before
// the fetch: when a drop happened since, the item is removed again, since
// the fetched value may predate the invalidation.
func (c *Cache) l1Put(k key, sh *shared, gen uint64, maxAge time.Duration) {
	if maxAge <= 0 || !c.l1Usable() {
		return
	}
	exp := min(sh.e.fresh, c.now().Add(maxAge).UnixMilli())
	if exp <= c.now().UnixMilli() {
		return
	}
	w := len(sh.e.payload) + 256 + indexWeight(sh.e.tags) // the tag index counts against L1Bytes
	it := &l1Item{sh: sh, esc: k.esc, expires: exp, weight: uint32(min(w, 1<<30))}
	c.l1.c.Set(k.name, it)
	// Indexed after the write, and only while the L1 still holds it:
	// concurrent puts of one name may finish in any order. A tag drop in
	// between bumps gen, which the check below sees.
	c.l1.idx.add(k.name, it, sh.e.tags, func() bool {
		cur, ok := c.l1.c.GetEntryQuietly(k.name) // a plain read: no maintenance under the index lock
		return ok && cur.Value == it
	})
	if c.l1Gen(k.name) != gen {
		c.l1.c.Invalidate(k.name)
	}
}

// l1DropNames drops the items under the given physical names.
func (c *Cache) l1DropNames(names ...string) {
	if c.l1 == nil {
		return
	}
	for _, n := range names {
		c.l1.stripe(n).Add(1)
		c.l1.c.Invalidate(n)
	}
}

// l1DropWhere drops the items for which match returns true.
func (c *Cache) l1DropWhere(match func(name string, it *l1Item) bool) {
	if c.l1 == nil {
		return
	}
	c.l1.gen.Add(1)
	for name, it := range c.l1.c.All() {
		if match(name, it) {
			c.l1.c.Invalidate(name)
		}
	}
}

// l1DropTags drops the items carrying any of tags, found through the
// index: it costs the items of tags, not the size of the L1.
func (c *Cache) l1DropTags(tags []string) {
	if c.l1 == nil {
		return
	}
	c.l1.gen.Add(1)
	for _, t := range tags {
		for _, name := range c.l1.idx.members(t) {
			c.l1.visited.Add(1)
			c.l1.c.Invalidate(name)
		}
	}
}

// l1DropNamespace drops the items of every version of namespace ns.
func (c *Cache) l1DropNamespace(ns string) {
	mark := "|n" + middleware.KeyPart(ns) + "."
	c.l1DropWhere(func(_ string, it *l1Item) bool { return strings.Contains(it.esc, mark) })
}

// l1Flush empties the L1.
func (c *Cache) l1Flush() {
	if c.l1 == nil {
		return
	}
	c.l1.gen.Add(1)
	c.l1.c.InvalidateAll()
}

// l1MaxAge is the L1 lifetime of a route with Route.L1TTL d.
func (c *Cache) l1MaxAge(d time.Duration) time.Duration {
	switch {
	case c.l1 == nil || d < 0:
		return 0
	case d == 0:
		return c.opts.L1TTL
	}
	return d
}
