package cachehttp

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
)

// heapGrowth returns how much the live heap grew since before (a
// heapInUse reading), or 0 when it shrank: garbage of other tests in the
// package, collected meanwhile, can outweigh what the test holds, and an
// unsigned difference would then wrap around.
func heapGrowth(before uint64) uint64 {
	after := heapInUse()
	if after < before {
		return 0
	}
	return after - before
}

// heapInUse returns the live heap after a full collection.
func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// manyTags returns n tags unique to entry i.
func manyTags(i, n int) []string {
	tags := make([]string, n)
	for j := range tags {
		tags[j] = fmt.Sprintf("user:%d:t%d", i, j)
	}
	return tags
}

// The memory backend's tag index counts against MemoryBytes: with many
// tags per entry, each unique to its entry, the heap the store and its
// index hold stays within a small factor of the bound.
func TestTagIndexWithinMemoryBytes(t *testing.T) {
	const bound = 4 << 20
	const tagsPer = 20
	before := heapInUse()
	c := newTestCache(t, nil, "tagmem:", Options{MemoryBytes: bound})
	body := []byte(strings.Repeat("x", 100))
	ctx := context.Background()
	for i := range 40000 {
		tags := manyTags(i, tagsPer)
		e := entry{route: "r", kind: kindHTTP, stored: time.Now().UnixMilli(), tags: tags, payload: body}
		e.fresh = e.stored + 60000
		e.stale, e.errUntil = e.fresh, e.fresh
		k := c.l.key(kindHTTP, fmt.Sprint("/item/", i))
		if _, err := c.memory.store(ctx, write{key: k, value: e.encode(), route: "r", tags: tags, ttl: time.Minute, started: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	used := heapGrowth(before)
	entries, tagsN := c.memory.idx.size()
	ratio := float64(used) / bound
	t.Logf("heap %.1f MiB for a %d MiB bound (%.2fx); %d entries, %d tags indexed; store weight %d",
		float64(used)/(1<<20), bound>>20, ratio, entries, tagsN, c.mem.Bytes())
	if ratio > 2.5 {
		t.Fatalf("heap is %.2fx MemoryBytes with %d tags per entry", ratio, tagsPer)
	}
	runtime.KeepAlive(c)
}

// The L1's tag index counts against L1Bytes the same way.
func TestTagIndexWithinL1Bytes(t *testing.T) {
	const bound = 4 << 20
	const tagsPer = 20
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := newL1Cache(t, tg, nil, Options{L1Bytes: bound})
		before := heapInUse()
		body := []byte(strings.Repeat("x", 100))
		for i := range 40000 {
			e := entry{route: "r", kind: kindHTTP, stored: time.Now().UnixMilli(), tags: manyTags(i, tagsPer), payload: body}
			e.fresh = e.stored + 60000
			k := c.l.key(kindHTTP, fmt.Sprint("/item/", i))
			c.l1Put(k, &shared{ok: true, e: e}, c.l1Gen(k.name), time.Minute)
		}
		c.l1.c.CleanUp()
		used := heapGrowth(before)
		entries, tagsN := c.l1.idx.size()
		ratio := float64(used) / bound
		t.Logf("heap %.1f MiB for a %d MiB L1 (%.2fx); %d items, %d tags indexed",
			float64(used)/(1<<20), bound>>20, ratio, entries, tagsN)
		if entries == 0 {
			t.Fatal("nothing went into the L1")
		}
		if ratio > 2.5 {
			t.Fatalf("heap is %.2fx L1Bytes with %d tags per entry", ratio, tagsPer)
		}
	})
}

// longTag returns a 64 KiB tag unique to i, as a TagFunc building tags
// from a request header may make.
func longTag(i int) string {
	return fmt.Sprintf("user:%d:", i) + strings.Repeat("x", 64<<10)
}

// Stamps keep long tags as digests: invalidating many 64 KiB tags holds a
// small fraction of their bytes, and a load racing the invalidation of a
// long tag still does not store its result.
func TestStampsBoundedByBytes(t *testing.T) {
	ctx := context.Background()
	c := newTestCache(t, nil, "stampbytes:", Options{})
	const n = 500
	before := heapInUse()
	for i := range n {
		if _, err := c.InvalidateTags(ctx, longTag(i)); err != nil {
			t.Fatal(err)
		}
	}
	used := heapGrowth(before)
	tagBytes := n * len(longTag(0))
	ratio := float64(used) / float64(tagBytes)
	t.Logf("%d stamps of %d KiB tags hold %.2f MiB (%.3f of the tags' bytes)", n, len(longTag(0))>>10, float64(used)/(1<<20), ratio)
	if s, _ := c.memory.stamps.len(); s != n {
		t.Fatalf("%d stamps; want %d", s, n)
	}
	if ratio > 0.05 {
		t.Fatalf("stamps hold %.2f of the bytes of their tags", ratio)
	}

	clk := newClock()
	setClock(c, clk)
	tag := longTag(n)
	loading, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		_, err := GetOrLoad(ctx, c, "long", time.Hour, func(context.Context) (string, error) {
			close(loading)
			<-release
			return "old", nil
		}, WithTags(tag))
		done <- err
	}()
	<-loading
	clk.add(time.Millisecond)
	if _, err := c.InvalidateTags(ctx, tag); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	clk.add(time.Millisecond)
	v, err := GetOrLoad(ctx, c, "long", time.Hour, func(context.Context) (string, error) { return "new", nil })
	if err != nil || v != "new" {
		t.Fatalf("got %q %v: a load raced with the invalidation of its long tag stored its result", v, err)
	}
}
