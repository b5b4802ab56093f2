package cachehttp

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
)

// indexMismatch compares the memory backend's tag index with the tagged
// entries the store holds and describes the first differences.
func indexMismatch(c *Cache) []string {
	inStore := map[string]string{}
	c.mem.DeleteFunc(func(name string) bool { // reads only
		if _, _, ok := c.l.parse(name); !ok {
			return false
		}
		if v, ok := c.mem.Get(name); ok && !isLease(v) {
			if e, err := decodeEntry(v); err == nil && len(e.tags) > 0 {
				tags := append([]string(nil), e.tags...)
				sort.Strings(tags)
				inStore[name] = fmt.Sprint(tags)
			}
		}
		return false
	})
	x := c.memory.idx
	x.mu.Lock()
	defer x.mu.Unlock()
	var diff []string
	for name, r := range x.byName {
		tags := append([]string(nil), r.tags...)
		sort.Strings(tags)
		if got, ok := inStore[name]; !ok {
			// Expired entries stay in the index until the store removes them.
			if _, present := c.mem.TTL(name); present {
				diff = append(diff, "stale "+name)
			}
		} else if got != fmt.Sprint(tags) {
			diff = append(diff, fmt.Sprintf("%s: index %v, store %s", name, tags, got))
		}
		for _, t := range r.tags {
			if m := x.byTag[t]; !m.has(name) {
				diff = append(diff, fmt.Sprintf("%s not under tag %s", name, t))
			}
		}
	}
	for name := range inStore {
		if _, ok := x.byName[name]; !ok {
			diff = append(diff, "unindexed "+name)
		}
	}
	members, want := 0, 0
	for _, m := range x.byTag {
		members += m.len()
	}
	for _, r := range x.byName {
		want += len(r.tags)
	}
	if members != want {
		diff = append(diff, fmt.Sprintf("%d tag members for %d tags of entries", members, want))
	}
	return diff[:min(len(diff), 5)]
}

func checkIndex(t *testing.T, c *Cache, what string) {
	t.Helper()
	var diff []string
	for range 100 { // the store's eviction may still be running
		if diff = indexMismatch(c); len(diff) == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: index out of step with the store: %v", what, diff)
}

// The tag index follows every way an entry leaves or changes: overwritten
// with other tags, soft-purged, deleted, invalidated by pattern, expired,
// evicted, cleared.
func TestTagIndexFollowsStore(t *testing.T) {
	ctx := context.Background()
	c := newTestCache(t, nil, "idx:", Options{MemoryBytes: 256 << 10})
	set := func(key string, ttl time.Duration, tags ...string) {
		t.Helper()
		if err := Set(ctx, c, key, key, ttl, WithTags(tags...)); err != nil {
			t.Fatal(err)
		}
	}
	inv := func(want int, tags ...string) {
		t.Helper()
		if n, err := c.InvalidateTags(ctx, tags...); n != want || err != nil {
			t.Fatalf("InvalidateTags(%v) = %d, %v; want %d", tags, n, err, want)
		}
	}
	clk := newClock()
	setClock(c, clk)
	step := func() { clk.add(time.Millisecond) } // a Set in the millisecond of an invalidation is refused

	set("k", time.Hour, "a", "b")
	set("k", time.Hour, "b", "c") // overwritten: no longer under a
	checkIndex(t, c, "overwrite")
	inv(0, "a")
	inv(1, "c")
	step()
	set("k", time.Hour, "b")
	set("k", time.Hour) // overwritten without tags
	checkIndex(t, c, "untagged overwrite")
	inv(0, "b")

	set("p", time.Hour, "d")
	if n, err := c.SoftPurgeTags(ctx, "d"); n != 1 || err != nil {
		t.Fatalf("SoftPurgeTags = %d, %v", n, err)
	}
	checkIndex(t, c, "soft purge")
	inv(1, "d") // the purged entry is still found by its tag
	step()

	set("del", time.Hour, "e")
	set("pat:1", time.Hour, "e")
	if n, err := c.Delete(ctx, "del"); n != 1 || err != nil {
		t.Fatalf("Delete = %d, %v", n, err)
	}
	if n, err := c.InvalidatePattern(ctx, "pat:*"); n != 1 || err != nil {
		t.Fatalf("InvalidatePattern = %d, %v", n, err)
	}
	if e, _ := c.memory.idx.size(); e != 0 {
		t.Fatalf("index holds %d entries after Delete and InvalidatePattern", e)
	}

	set("short", 30*time.Millisecond, "f")
	waitFor(t, 10*time.Second, "the expired entry to leave the index", func() bool {
		c.mem.Set("poke", []byte{1}, time.Minute) // a write runs the store's pending maintenance
		e, _ := c.memory.idx.size()
		return e == 0
	})

	// Over the store's bound: the index holds what the store holds.
	for i := range 4000 {
		set(fmt.Sprintf("evict:%d", i), time.Hour, fmt.Sprintf("user:%d", i), "all")
	}
	checkIndex(t, c, "eviction")
	entries, tags := c.memory.idx.size()
	if entries == 0 || entries >= 4000 || tags > entries+1 {
		t.Fatalf("after eviction the index holds %d entries, %d tags (store: %d entries)", entries, tags, c.mem.Len())
	}
	if n, err := c.InvalidateTags(ctx, "all"); n == 0 || n > entries || err != nil {
		t.Fatalf("InvalidateTags(all) = %d, %v; the index held %d", n, err, entries)
	}
	if e, _ := c.memory.idx.size(); e != 0 {
		t.Fatalf("index holds %d entries after their tag was invalidated", e)
	}
	step()

	set("x", time.Hour, "g")
	c.mem.Clear()
	if e, ts := c.memory.idx.size(); e != 0 || ts != 0 {
		t.Fatalf("index holds %d entries, %d tags after Clear", e, ts)
	}
}

// Stamps stay within their bound; a stamp forgotten early still refuses
// the loads it raced with; expired stamps leave a few per call.
func TestStampsBounded(t *testing.T) {
	ctx := context.Background()
	c := newTestCache(t, nil, "stamps:", Options{})
	clk := newClock()
	setClock(c, clk)
	c.memory.stamps.max = 64

	loading, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		_, err := GetOrLoad(ctx, c, "slow", time.Hour, func(context.Context) (string, error) {
			close(loading)
			<-release
			return "old", nil
		}, WithTags("slow-tag"))
		done <- err
	}()
	<-loading
	clk.add(time.Millisecond)
	if _, err := c.InvalidateTags(ctx, "slow-tag"); err != nil {
		t.Fatal(err)
	}
	for i := range 1000 { // pushes slow-tag's stamp out
		if _, err := c.InvalidateTags(ctx, fmt.Sprint("user:", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n, q := c.memory.stamps.len(); n > 64 || q > 64 {
		t.Fatalf("%d stamps, %d queued; bound 64", n, q)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	clk.add(time.Millisecond)
	v, err := GetOrLoad(ctx, c, "slow", time.Hour, func(context.Context) (string, error) { return "new", nil })
	if err != nil || v != "new" {
		t.Fatalf("got %q %v: a load raced with a forgotten stamp stored its result", v, err)
	}

	// Past MaxLoadTime every stamp is expired; each invalidation forgets
	// one per tag it stamps and expireBatch more, never all at once.
	clk.add(defaultMaxLoadTime + time.Second)
	for i := 0; ; i++ {
		before := c.memory.work.Load()
		if _, err := c.InvalidateTags(ctx, "late"); err != nil {
			t.Fatal(err)
		}
		if w := c.memory.work.Load() - before; w > 1+expireBatch {
			t.Fatalf("one invalidation visited %d items", w)
		}
		if n, _ := c.memory.stamps.len(); n == 1 {
			break
		}
		if i > 64 {
			t.Fatal("expired stamps never drained")
		}
	}
}

// A tag invalidation drops the L1 items of its tag through the index,
// visiting those items only, and the index follows the L1.
func TestL1TagDropCostsItsItems(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		ctx := context.Background()
		c := newL1Cache(t, tg, nil, Options{})
		get := func(key, tag string) {
			t.Helper()
			for range 2 { // a miss stores in Redis; the first hit fills the L1
				if _, err := GetOrLoad(ctx, c, key, time.Hour, func(context.Context) (string, error) { return key, nil }, WithTags(tag)); err != nil {
					t.Fatal(err)
				}
			}
		}
		for i := range 300 {
			get(fmt.Sprint("k:", i), fmt.Sprint("user:", i))
		}
		for i := range 3 {
			get(fmt.Sprint("x:", i), "user:x")
		}
		get("k:0", "user:0") // an overwrite in the L1
		if n := c.l1.c.EstimatedSize(); n < 303 {
			t.Fatalf("L1 holds %d items", n)
		}
		checkL1Index(t, c)
		before := c.l1.visited.Load()
		if n, err := c.InvalidateTags(ctx, "user:x"); n != 3 || err != nil {
			t.Fatalf("InvalidateTags = %d, %v", n, err)
		}
		if v := c.l1.visited.Load() - before; v != 3 {
			t.Fatalf("the L1 drop visited %d items; want 3", v)
		}
		if c.l1Get(c.l.key(kindData, escapeKey("k:1")).name) == nil || c.l1Get(c.l.key(kindData, escapeKey("x:1")).name) != nil {
			t.Fatal("the tag drop removed the wrong L1 items")
		}
		checkL1Index(t, c)
	})
}

// checkL1Index compares the L1's tag index with the L1's items.
func checkL1Index(t *testing.T, c *Cache) {
	t.Helper()
	items := map[string]*l1Item{}
	for name, it := range c.l1.c.All() { // not under the index lock: All runs maintenance
		if len(it.sh.e.tags) > 0 {
			items[name] = it
		}
	}
	x := c.l1.idx
	x.mu.Lock()
	defer x.mu.Unlock()
	for name, it := range items {
		if r, ok := x.byName[name]; !ok || r.id != it || fmt.Sprint(r.tags) != fmt.Sprint(it.sh.e.tags) {
			t.Fatalf("L1 item %s (tags %v) indexed as %+v, %v", name, it.sh.e.tags, r, ok)
		}
	}
	if len(x.byName) != len(items) {
		t.Fatalf("the index holds %d records for %d tagged L1 items", len(x.byName), len(items))
	}
}
