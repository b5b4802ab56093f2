package cachehttp

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
)

// A version bump makes every old entry of the namespace unreachable at once
// on every instance (with coherence: as soon as the message lands; without:
// within VersionRefresh), in one command, leaving other namespaces alone.
func TestBumpVersion(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		ctx := context.Background()
		c1 := newTestCache(t, tg.Client, tg.Prefix, Options{Coherence: true})
		c2 := newTestCache(t, tg.NewClient(t), tg.Prefix, Options{Coherence: true, L1Bytes: 1 << 20})
		c3 := newTestCache(t, tg.NewClient(t), tg.Prefix, Options{VersionRefresh: 50 * time.Millisecond})
		for _, c := range []*Cache{c1, c2} {
			waitFor(t, 5*time.Second, "subscription", c.coherent)
		}
		var gen atomic.Int64
		h := &counter{h: func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "v%d", gen.Load()) }}
		var srv []http.Handler
		var other []http.Handler
		for _, c := range []*Cache{c1, c2, c3} {
			srv = append(srv, mustRoute(t, c, Route{Name: "item", Namespace: "item"}).Handler(h))
			other = append(other, mustRoute(t, c, Route{Name: "post", Namespace: "post"}).Handler(h))
		}
		const n = 50
		for i := range n {
			do(srv[0], "GET", fmt.Sprint("/item/", i))
			if err := Set(ctx, c1, fmt.Sprint("item:", i), i, time.Minute, WithNamespace("item")); err != nil {
				t.Fatal(err)
			}
		}
		do(other[0], "GET", "/post")
		for _, s := range srv {
			for i := range n {
				expect(t, do(s, "GET", fmt.Sprint("/item/", i)), 200, "HIT", "v0")
			}
		}
		before := keyCount(t, tg, c1)
		gen.Store(1)
		v, err := c1.BumpVersion(ctx, "item")
		if err != nil || v != 1 {
			t.Fatalf("BumpVersion = %d, %v", v, err)
		}
		// Nothing was deleted: the old entries are unreachable, not gone.
		if after := keyCount(t, tg, c1); after != before {
			t.Fatalf("%d keys before the bump, %d after: a bump must not touch entries", before, after)
		}
		waitFor(t, 5*time.Second, "c2 to learn the bump", func() bool { v, _ := c2.version(ctx, "item"); return v == 1 })
		time.Sleep(60 * time.Millisecond) // c3's VersionRefresh
		for j, s := range srv {
			for i := range n {
				got := do(s, "GET", fmt.Sprint("/item/", i))
				if j == 0 {
					expect(t, got, 200, "MISS", "v1") // the first instance refills
				} else {
					expect(t, got, 200, "HIT", "v1")
				}
			}
			expect(t, do(other[j], "GET", "/post"), 200, "HIT", "v0")
			if _, err := GetOrLoad(ctx, []*Cache{c1, c2, c3}[j], "item:7", time.Minute, func(context.Context) (int, error) {
				return -1, nil
			}, WithNamespace("item")); err != nil {
				t.Fatal(err)
			}
		}
		if v, _ := GetOrLoad(ctx, c3, "item:7", time.Minute, func(context.Context) (int, error) { return -2, nil }, WithNamespace("item")); v != -1 {
			t.Fatalf("data entry after bump = %d; want the reloaded -1", v)
		}
	})
}

func keyCount(t *testing.T, tg redistest.Target, c *Cache) int {
	t.Helper()
	n := 0
	err := scanAll(context.Background(), tg.Client, c.l.prefix+"{*", func([]string) {}, &n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// An Options.Schema change starts from an empty cache, while tag
// invalidation still reaches the other schema's entries.
func TestSchemaVersion(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		ctx := context.Background()
		old := newTestCache(t, tg.Client, tg.Prefix, Options{Schema: "build-1"})
		neu := newTestCache(t, tg.NewClient(t), tg.Prefix, Options{Schema: "build-2"})
		if err := Set(ctx, old, "overview:1", "old shape", time.Minute, WithTags("overview")); err != nil {
			t.Fatal(err)
		}
		v, err := GetOrLoad(ctx, neu, "overview:1", time.Minute, func(context.Context) (string, error) { return "new shape", nil }, WithTags("overview"))
		if err != nil || v != "new shape" {
			t.Fatalf("new schema read %q, %v", v, err)
		}
		if n, err := neu.InvalidateTags(ctx, "overview"); err != nil || n != 2 {
			t.Fatalf("InvalidateTags across schemas = %d, %v; want 2", n, err)
		}
		if err := Set(ctx, neu, "k", 1, time.Minute); err != nil {
			t.Fatal(err)
		}
		if n, err := neu.Delete(ctx, "k"); err != nil || n != 1 {
			t.Fatalf("Delete under a schema = %d, %v", n, err)
		}
	})
}
