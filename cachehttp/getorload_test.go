package cachehttp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
)

type overview struct {
	City string  `json:"city"`
	Temp float64 `json:"temp"`
}

func TestGetOrLoad(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := newTestCache(t, tg.Client, tg.Prefix, Options{})
		ctx := context.Background()
		var calls atomic.Int64
		load := func(context.Context) (overview, error) {
			calls.Add(1)
			return overview{"Oslo", -3.5}, nil
		}
		for range 3 {
			v, err := GetOrLoad(ctx, c, "catalog:59.9:10.7", time.Minute, load, WithRoute("catalog"))
			if err != nil || v != (overview{"Oslo", -3.5}) {
				t.Fatalf("got %+v %v", v, err)
			}
		}
		if calls.Load() != 1 {
			t.Fatalf("loader ran %d times", calls.Load())
		}
		// Loader errors are returned and never cached.
		boom := errors.New("upstream 503")
		for i := range 2 {
			_, err := GetOrLoad(ctx, c, "err", time.Minute, func(context.Context) (int, error) { return 0, boom })
			if !errors.Is(err, boom) {
				t.Fatalf("call %d: %v", i, err)
			}
		}
		v, err := GetOrLoad(ctx, c, "err", time.Minute, func(context.Context) (int, error) { return 5, nil })
		if err != nil || v != 5 {
			t.Fatalf("after errors: %d %v", v, err)
		}
		// Negative caching with its own TTL.
		clk := newClock()
		setClock(c, clk)
		var nf atomic.Int64
		missing := func(context.Context) (string, error) {
			nf.Add(1)
			return "", fmt.Errorf("user 9: %w", ErrNotFound)
		}
		for range 3 {
			if _, err := GetOrLoad(ctx, c, "user:9", time.Hour, missing, WithNegativeTTL(time.Second)); !errors.Is(err, ErrNotFound) {
				t.Fatalf("negative: %v", err)
			}
		}
		if nf.Load() != 1 {
			t.Fatalf("not-found loader ran %d times", nf.Load())
		}
		clk.add(2 * time.Second)
		if _, err := GetOrLoad(ctx, c, "user:9", time.Hour, missing, WithNegativeTTL(time.Second)); !errors.Is(err, ErrNotFound) || nf.Load() != 2 {
			t.Fatalf("negative entry outlived its TTL: %v %d", err, nf.Load())
		}
		// Stale on error.
		if _, err := GetOrLoad(ctx, c, "post", time.Minute, func(context.Context) (string, error) { return "headline", nil },
			WithStaleIfError(time.Hour)); err != nil {
			t.Fatal(err)
		}
		clk.add(2 * time.Minute)
		got, err := GetOrLoad(ctx, c, "post", time.Minute, func(context.Context) (string, error) { return "", boom }, WithStaleIfError(time.Hour))
		if err != nil || got != "headline" {
			t.Fatalf("stale-if-error: %q %v", got, err)
		}
		got, err = GetOrLoad(ctx, c, "post", time.Minute, func(context.Context) (string, error) { return "new", nil }, WithStaleIfError(time.Hour))
		if err != nil || got != "new" {
			t.Fatalf("refresh after stale: %q %v", got, err)
		}
		if _, err := GetOrLoad(ctx, c, "x", 0, load); !errors.Is(err, ErrInvalidOptions) {
			t.Fatalf("zero TTL: %v", err)
		}
	})
}

// Concurrent GetOrLoad calls across 3 instances run the loader once.
func TestGetOrLoadCoalescing(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		var caches []*Cache
		for i := range 3 {
			client := tg.Client
			if i > 0 {
				client = tg.NewClient(t)
			}
			caches = append(caches, newTestCache(t, client, tg.Prefix, Options{FillWait: 20 * time.Second}))
		}
		var calls atomic.Int64
		release := make(chan struct{})
		load := func(ctx context.Context) (string, error) {
			calls.Add(1)
			<-release
			return "v", nil
		}
		var wg sync.WaitGroup
		errs := make(chan error, 150)
		for i := range 150 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx := context.Background()
				if i%10 == 0 { // some callers give up early
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, 50*time.Millisecond)
					defer cancel()
				}
				v, err := GetOrLoad(ctx, caches[i%3], "shared", time.Minute, load)
				if i%10 == 0 {
					if err == nil && v != "v" {
						errs <- fmt.Errorf("cancelled caller got %q", v)
					}
					return
				}
				if err != nil || v != "v" {
					errs <- fmt.Errorf("got %q %v", v, err)
				}
			}()
		}
		time.Sleep(300 * time.Millisecond)
		close(release)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if calls.Load() != 1 {
			t.Fatalf("loader ran %d times", calls.Load())
		}
	})
}
