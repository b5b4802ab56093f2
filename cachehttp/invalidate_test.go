package cachehttp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/aura-platform/redishttp/middleware"
)

func userTags(r *http.Request) []string {
	return []string{"user:" + middleware.UserFromContext(r.Context())}
}

func TestInvalidateTags(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		ev := &events{}
		c := newTestCache(t, tg.Client, tg.Prefix, Options{Observer: ev})
		c2 := newTestCache(t, tg.NewClient(t), tg.Prefix, Options{})
		h := &counter{h: func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("profile of " + middleware.UserFromContext(r.Context())))
		}}
		rt := Route{Name: "profile", PerUser: true, TagFunc: userTags}
		srv := withUser(mustRoute(t, c, rt).Handler(h), "X-User")
		srv2 := withUser(mustRoute(t, c2, rt).Handler(h), "X-User")
		for _, u := range []string{"42", "43", "4*", "4?"} {
			expect(t, do(srv, "GET", "/me", "X-User", u), 200, "MISS", "profile of "+u)
			expect(t, do(srv2, "GET", "/me", "X-User", u), 200, "HIT", "profile of "+u)
		}
		ctx := context.Background()
		if err := Set(ctx, c, "settings:42", map[string]int{"a": 1}, time.Minute, WithTags("user:42"), WithRoute("settings")); err != nil {
			t.Fatal(err)
		}
		n, err := c2.InvalidateTags(ctx, "user:42", "user:4*")
		if err != nil || n != 3 {
			t.Fatalf("InvalidateTags = %d, %v; want 3", n, err)
		}
		expect(t, do(srv, "GET", "/me", "X-User", "42"), 200, "MISS", "profile of 42")
		expect(t, do(srv, "GET", "/me", "X-User", "4*"), 200, "MISS", "profile of 4*")
		expect(t, do(srv, "GET", "/me", "X-User", "43"), 200, "HIT", "profile of 43")
		expect(t, do(srv, "GET", "/me", "X-User", "4?"), 200, "HIT", "profile of 4?")
		if _, err := GetOrLoad(ctx, c, "settings:42", time.Minute, func(context.Context) (map[string]int, error) {
			return map[string]int{"a": 2}, nil
		}); err != nil {
			t.Fatal(err)
		}
		if ev.get(middleware.CacheLoad, defaultDataRoute) != 1 {
			t.Fatalf("settings entry not reloaded: %v", ev.m)
		}
	})
}

// Tag sets expire no earlier than their longest member.
func TestTagSetTTL(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := newTestCache(t, tg.Client, tg.Prefix, Options{})
		ctx := context.Background()
		if err := Set(ctx, c, "long", 1, time.Hour, WithTags("t")); err != nil {
			t.Fatal(err)
		}
		if err := Set(ctx, c, "short", 1, time.Minute, WithTags("t")); err != nil {
			t.Fatal(err)
		}
		var max time.Duration
		for g := 0; g < c.l.groups; g++ {
			if d := tg.Client.PTTL(ctx, c.l.tagSet(g, "t")).Val(); d > max {
				max = d
			}
		}
		if max < 59*time.Minute {
			t.Fatalf("tag set TTL %v shorter than its longest member", max)
		}
	})
}

// A load that started before an invalidation does not store after it.
func TestInvalidationRacingLoad(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		racingLoad(t, newTestCache(t, tg.Client, tg.Prefix, Options{}))
	})
	t.Run("embedded", func(t *testing.T) { racingLoad(t, newTestCache(t, nil, "race:", Options{})) })
}

func racingLoad(t *testing.T, c *Cache) {
	{
		ctx := context.Background()
		loading := make(chan struct{})
		release := make(chan struct{})
		done := make(chan error)
		go func() {
			_, err := GetOrLoad(ctx, c, "race", time.Minute, func(context.Context) (string, error) {
				close(loading)
				<-release
				return "old", nil
			}, WithTags("race-tag"))
			done <- err
		}()
		<-loading
		time.Sleep(5 * time.Millisecond) // the stamp must be later than the load's start
		if _, err := c.InvalidateTags(ctx, "race-tag"); err != nil {
			t.Fatal(err)
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		v, err := GetOrLoad(ctx, c, "race", time.Minute, func(context.Context) (string, error) { return "new", nil })
		if err != nil || v != "new" {
			t.Fatalf("got %q %v: the racing load stored its outdated value", v, err)
		}
	}
}

func TestInvalidatePattern(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := newTestCache(t, tg.Client, tg.Prefix, Options{})
		other := newTestCache(t, tg.Client, tg.Prefix+"other:", Options{}) // a neighbour prefix
		ctx := context.Background()
		keys := []string{"catalog:1:2", "catalog:1:3", "catalog:10:2", "post:1", "user:*:x", "user:a:x", "user:b:x"}
		for _, k := range keys {
			if err := Set(ctx, c, k, k, time.Minute); err != nil {
				t.Fatal(err)
			}
			if err := Set(ctx, other, k, k, time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		check := func(pattern string, want int) {
			t.Helper()
			n, err := c.InvalidatePattern(ctx, pattern)
			if err != nil || n != want {
				t.Fatalf("InvalidatePattern(%q) = %d, %v; want %d", pattern, n, err, want)
			}
		}
		check("catalog:1:*", 2)
		check("user:"+EscapeGlob("*")+":x", 1) // only the literal "*" user
		check("user:[ab]:x", 2)
		check("post:?", 1)
		check("catalog:1?:2", 1)
		if _, err := c.InvalidatePattern(ctx, "a[b"); !errors.Is(err, ErrBadPattern) {
			t.Fatalf("bad pattern: %v", err)
		}
		// The neighbour's entries are untouched.
		for _, k := range keys {
			v, err := GetOrLoad(ctx, other, k, time.Minute, func(context.Context) (string, error) { return "reloaded", nil })
			if err != nil || v != k {
				t.Fatalf("neighbour entry %q: %q %v", k, v, err)
			}
		}
	})
}

func TestDeleteAndLiveKeys(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := newTestCache(t, tg.Client, tg.Prefix, Options{})
		ctx := context.Background()
		srv := mustRoute(t, c, Route{Name: "Catalog Data", KeyFunc: func(r *http.Request) (string, error) {
			return "catalog:" + middleware.KeyPart(r.URL.Query().Get("lat")), nil
		}}).Handler(textHandler("sunny"))
		for i := range 5 {
			do(srv, "GET", fmt.Sprintf("/w?lat=%d", i))
		}
		for i := range 3 {
			if err := Set(ctx, c, fmt.Sprint("n", i), i, time.Minute, WithRoute("post")); err != nil {
				t.Fatal(err)
			}
		}
		live := func() map[string]int64 {
			m, err := c.LiveKeys(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
		if m := live(); m["Catalog Data"] != 5 || m["post"] != 3 {
			t.Fatalf("LiveKeys %v", m)
		}
		n, err := c.Delete(ctx, "n0", "n1", "missing", "catalog:0")
		if err != nil || n != 3 {
			t.Fatalf("Delete = %d, %v", n, err)
		}
		if _, err := c.InvalidatePattern(ctx, "catalog:[12]"); err != nil {
			t.Fatal(err)
		}
		if m := live(); m["Catalog Data"] != 2 || m["post"] != 1 {
			t.Fatalf("LiveKeys after deletes %v", m)
		}
		expect(t, do(srv, "GET", "/w?lat=0"), 200, "MISS", "sunny")
		expect(t, do(srv, "GET", "/w?lat=3"), 200, "HIT", "sunny")
		// Expiry is counted without any deletion.
		clk := newClock()
		setClock(c, clk)
		clk.add(2 * time.Minute)
		if m := live(); m["Catalog Data"] != 0 || m["post"] != 0 {
			t.Fatalf("LiveKeys after expiry %v", m)
		}
	})
}

// Invalidations also clear the in-memory fallback, and report that Redis was
// not reached while it is down.
func TestInvalidateClearsMemory(t *testing.T) {
	c := newTestCache(t, nil, "mem:", Options{})
	ctx := context.Background()
	for _, k := range []string{"a:1", "a:2", "b:1"} {
		if err := Set(ctx, c, k, k, time.Minute, WithTags("t-"+k[:1])); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := c.InvalidateTags(ctx, "t-a"); n != 2 || err != nil {
		t.Fatalf("memory InvalidateTags = %d %v", n, err)
	}
	if n, err := c.InvalidatePattern(ctx, "b:*"); n != 1 || err != nil {
		t.Fatalf("memory InvalidatePattern = %d %v", n, err)
	}
	if m, _ := c.LiveKeys(ctx); m[defaultDataRoute] != 0 {
		t.Fatalf("LiveKeys %v", m)
	}
}

// invalidationWork returns how many items (index members, stamps, keys) the
// memory step of one InvalidateTags of tag visited, and how many entries
// the call removed.
func invalidationWork(t *testing.T, c *Cache, tag string) (work int64, removed int) {
	t.Helper()
	before := c.memory.work.Load()
	n, err := c.InvalidateTags(context.Background(), tag)
	if err != nil {
		t.Fatal(err)
	}
	return c.memory.work.Load() - before, n
}

// The cost of a tag invalidation is the entries of the tag, whatever the
// number of other tags (live entries and recent invalidations of other
// users): the stamps are not walked and the store is not scanned.
func TestInvalidateTagsCostIndependentOfOtherTags(t *testing.T) {
	ctx := context.Background()
	for _, others := range []int{10, 5000} {
		t.Run(fmt.Sprint(others), func(t *testing.T) {
			c := newTestCache(t, nil, "cost:", Options{})
			for i := range others {
				if err := Set(ctx, c, fmt.Sprint("sub:", i), i, time.Hour, WithTags(fmt.Sprint("user:", i))); err != nil {
					t.Fatal(err)
				}
				if _, err := c.InvalidateTags(ctx, fmt.Sprint("gone:", i)); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 3 {
				if err := Set(ctx, c, fmt.Sprint("x:", i), i, time.Hour, WithTags("user:x")); err != nil {
					t.Fatal(err)
				}
			}
			if work, n := invalidationWork(t, c, "user:x"); n != 3 || work != 3 {
				t.Fatalf("InvalidateTags removed %d entries and visited %d items with %d other tags; want 3 and 3", n, work, others)
			}
			if work, n := invalidationWork(t, c, "user:nobody"); n != 0 || work != 0 {
				t.Fatalf("InvalidateTags of an unused tag removed %d and visited %d items", n, work)
			}
		})
	}
}

// On Redis, the in-memory step of InvalidateTags costs nothing for a tag
// the memory store holds nothing of, however many tags were invalidated.
func TestInvalidateTagsRedisMemoryStep(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := newTestCache(t, tg.Client, tg.Prefix, Options{})
		ctx := context.Background()
		for i := range 300 {
			if err := Set(ctx, c, fmt.Sprint("sub:", i), i, time.Minute, WithTags(fmt.Sprint("user:", i))); err != nil {
				t.Fatal(err)
			}
			if _, err := c.InvalidateTags(ctx, fmt.Sprint("gone:", i)); err != nil {
				t.Fatal(err)
			}
		}
		work, n := invalidationWork(t, c, "user:7")
		if n != 1 || work != 0 {
			t.Fatalf("InvalidateTags removed %d (want 1), memory step visited %d items (want 0)", n, work)
		}
	})
}

// hostilePattern makes a backtracking glob matcher exponential on a long
// key without the final byte.
const hostilePattern = "post:*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b"

// InvalidatePattern matches in linear time: the hostile pattern against
// 64-byte keys finishes at once (a backtracking matcher ran for minutes:
// this test then fails by go test's timeout).
func TestInvalidatePatternHostile(t *testing.T) {
	run := func(t *testing.T, c *Cache, keys int) {
		ctx := context.Background()
		for i := range keys {
			// 64 bytes each, neither matching: the first passes the SCAN
			// MATCH superset (which ends in '*' for suffixes), so Redis
			// mode matches it in-process too.
			for _, k := range []string{
				fmt.Sprintf("post:%sb%03dx", strings.Repeat("a", 54), i),
				fmt.Sprintf("post:%s%03d", strings.Repeat("a", 56), i),
			} {
				if len(k) != 64 {
					t.Fatalf("key of %d bytes", len(k))
				}
				if err := Set(ctx, c, k, i, time.Minute); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := Set(ctx, c, "post:"+strings.Repeat("a", 58)+"b", 0, time.Minute); err != nil {
			t.Fatal(err)
		}
		n, err := c.InvalidatePattern(ctx, hostilePattern)
		if err != nil || n != 1 {
			t.Fatalf("InvalidatePattern = %d, %v; want 1", n, err)
		}
	}
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		run(t, newTestCache(t, tg.Client, tg.Prefix, Options{}), 20)
	})
	t.Run("embedded", func(t *testing.T) { run(t, newTestCache(t, nil, "hostile:", Options{}), 500) })
}

// A pattern invalidation of the memory store stops when its context ends
// and returns the context's error.
func TestInvalidatePatternContext(t *testing.T) {
	c := newTestCache(t, nil, "ctx:", Options{})
	for i := range 2000 {
		if err := Set(context.Background(), c, fmt.Sprint("k:", i), i, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	before := c.memory.work.Load()
	n, err := c.InvalidatePattern(ctx, "k:*")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("InvalidatePattern with an ended context = %d, %v", n, err)
	}
	if walked := c.memory.work.Load() - before; walked > patternCheckEvery {
		t.Fatalf("walked %d keys after the context ended", walked)
	}
	if _, err := c.InvalidatePattern(ctx, "a[b"); !errors.Is(err, ErrBadPattern) {
		t.Fatalf("bad pattern: %v", err)
	}
}
