package ratelimithttp

import (
	"errors"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/ulule/limiter/v3"
)

func TestStoreImplementsUlule(t *testing.T) {
	for _, algo := range []Algorithm{FixedWindow, SlidingWindow} {
		t.Run(algo.String(), func(t *testing.T) {
			redistest.Run(t, func(t *testing.T, tg redistest.Target) {
				store, err := NewStore(tg.Client, StoreOptions{Prefix: tg.Prefix, Algorithm: algo})
				if err != nil {
					t.Fatal(err)
				}
				lim := limiter.New(store, rate(3, time.Minute))
				ctx := t.Context()
				for i := 1; i <= 3; i++ {
					c, err := lim.Get(ctx, "k")
					if err != nil || c.Reached || c.Remaining != int64(3-i) || c.Limit != 3 {
						t.Fatalf("Get %d: %+v %v", i, c, err)
					}
					if d := time.Until(time.Unix(c.Reset, 0)); d < 58*time.Second || d > 61*time.Second {
						t.Fatalf("Reset in %v", d)
					}
				}
				for range 5 {
					if c, err := lim.Get(ctx, "k"); err != nil || !c.Reached || c.Remaining != 0 {
						t.Fatalf("over the limit: %+v %v", c, err)
					}
				}
				if c, err := lim.Peek(ctx, "k"); err != nil || !c.Reached || c.Remaining != 0 {
					t.Fatalf("Peek: %+v %v", c, err)
				}
				// Refused requests were not counted: after Reset, Peek sees 0.
				if c, err := lim.Reset(ctx, "k"); err != nil || c.Remaining != 3 || c.Reached {
					t.Fatalf("Reset: %+v %v", c, err)
				}
				if c, err := lim.Increment(ctx, "k", 2); err != nil || c.Remaining != 1 {
					t.Fatalf("Increment 2: %+v %v", c, err)
				}
				if c, err := lim.Increment(ctx, "k", 2); err != nil || !c.Reached || c.Remaining != 1 {
					t.Fatalf("Increment 2 over: %+v %v", c, err)
				}
				if _, err := store.Get(ctx, "k", limiter.Rate{}); !errors.Is(err, ErrBadPolicy) {
					t.Fatalf("zero rate: %v", err)
				}
			})
		})
	}
	if _, err := NewStore(nil, StoreOptions{}); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("nil client: %v", err)
	}
}

// Peek never creates a key.
func TestStorePeekWritesNothing(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		for _, algo := range []Algorithm{FixedWindow, SlidingWindow} {
			store, _ := NewStore(tg.Client, StoreOptions{Prefix: tg.Prefix, Algorithm: algo})
			c, err := store.Peek(t.Context(), "nobody", rate(5, time.Minute))
			if err != nil || c.Remaining != 5 || c.Reached {
				t.Fatalf("%v Peek: %+v %v", algo, c, err)
			}
			n, err := tg.Client.Exists(t.Context(), tg.Prefix+"{nobody}:f:5-60000", tg.Prefix+"{nobody}:s:5-60000:log", tg.Prefix+"{nobody}:s:5-60000:sum").Result()
			if err != nil || n != 0 {
				t.Fatalf("%v Peek created %d keys (%v)", algo, n, err)
			}
		}
	})
}
