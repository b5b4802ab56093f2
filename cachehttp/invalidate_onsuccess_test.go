package cachehttp

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/aura-platform/redishttp/middleware"
)

// A mutation route invalidates the writer's tag before its 2xx goes out, on
// every instance, and nothing on a failure; a user ID full of glob
// characters clears only its own entries.
func TestInvalidateOnSuccess(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c1 := newTestCache(t, tg.Client, tg.Prefix, Options{Logger: quiet})
		c2 := newTestCache(t, tg.NewClient(t), tg.Prefix, Options{Logger: quiet})
		var gen atomic.Int64
		profile := &counter{h: func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "profile of %s v%d", middleware.UserFromContext(r.Context()), gen.Load())
		}}
		rt := Route{Name: "profile", PerUser: true, TagFunc: userTags}
		get1 := withUser(mustRoute(t, c1, rt).Handler(profile), "X-User")
		get2 := withUser(mustRoute(t, c2, rt).Handler(profile), "X-User")
		status := http.StatusNoContent
		update := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if status < 300 {
				gen.Add(1)
			}
			w.WriteHeader(status)
		})
		put := withUser(c1.InvalidateOnSuccess(userTags, InvalidateOptions{})(update), "X-User")

		users := []string{"42", "43", "*", "4?", "[4]2", `4\`, "4*"}
		for _, u := range users {
			do(get1, "GET", "/api/profile", "X-User", u)
			expect(t, do(get2, "GET", "/api/profile", "X-User", u), 200, "HIT", "")
		}
		status = http.StatusBadRequest
		if got := do(put, "PUT", "/api/subscription", "X-User", "42"); got.code != 400 {
			t.Fatalf("PUT status %d", got.code)
		}
		expect(t, do(get2, "GET", "/api/profile", "X-User", "42"), 200, "HIT", "profile of 42 v0")

		status = http.StatusNoContent
		for _, u := range []string{"*", "4?", "[4]2", "4*"} {
			do(put, "PUT", "/api/subscription", "X-User", u)
			v := gen.Load()
			expect(t, do(get2, "GET", "/api/profile", "X-User", u), 200, "MISS", fmt.Sprintf("profile of %s v%d", u, v))
		}
		// The other users' entries survived every glob-laden invalidation.
		for _, u := range []string{"42", "43", `4\`} {
			expect(t, do(get2, "GET", "/api/profile", "X-User", u), 200, "HIT", "profile of "+u+" v0")
		}
		// A handler that writes nothing sends 200: that invalidates too.
		silent := withUser(c1.InvalidateOnSuccess(userTags, InvalidateOptions{})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})), "X-User")
		do(silent, "POST", "/x", "X-User", "43")
		expect(t, do(get2, "GET", "/api/profile", "X-User", "43"), 200, "MISS", "")
	})
}

// InvalidatePattern with user input through EscapeGlob: a glob character in
// a user ID cannot widen the match to another user's keys.
func TestPatternUserGlob(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := newTestCache(t, tg.Client, tg.Prefix, Options{})
		ctx := context.Background()
		users := []string{"42", "43", "*", "4?", "[4]2", "[^x]2", `4\`, "4*", "a"}
		fill := func() {
			for _, u := range users {
				for _, k := range []string{"settings", "avatar"} {
					if err := Set(ctx, c, "user:"+u+":"+k, u, time.Minute); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		for _, victim := range users {
			fill()
			n, err := c.InvalidatePattern(ctx, "user:"+EscapeGlob(victim)+":*")
			if err != nil || n != 2 {
				t.Fatalf("user %q: InvalidatePattern = %d, %v; want 2", victim, n, err)
			}
			for _, u := range users {
				_, err := GetOrLoad(ctx, c, "user:"+u+":settings", time.Minute, func(context.Context) (string, error) {
					return "", ErrNotFound
				})
				if gone := err != nil; gone != (u == victim) {
					t.Fatalf("clearing %q: entry of %q gone=%v", victim, u, gone)
				}
			}
		}
	})
}
