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
	used := heapInUse() - before
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
		used := heapInUse() - before
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
