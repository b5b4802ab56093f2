package redishttp_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aura-platform/redishttp"
	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/aura-platform/redishttp/statshttp"
	"github.com/redis/go-redis/v9"
)

// pipelineHook counts the commands the client sends inside pipelines
// (the auto-pipeliner's batches) and alone.
type pipelineHook struct{ piped, alone atomic.Int64 }

func (h *pipelineHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *pipelineHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.alone.Add(1)
		return next(ctx, cmd)
	}
}
func (h *pipelineHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if c.Name() == "evalsha" || c.Name() == "eval" || c.Name() == "set" || c.Name() == "get" {
				h.piped.Add(1)
			}
		}
		return next(ctx, cmds)
	}
}

// TestKitAutoPipeline: with Options.AutoPipeline every part sends its
// per-request commands through the client's auto-pipeliner and the stack
// behaves as without it; a client without an auto-pipeliner is refused by
// name.
func TestKitAutoPipeline(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		client := tg.NewClient(t)
		h := &pipelineHook{}
		client.AddHook(h)
		kit, err := redishttp.New(client, redishttp.Options{Prefix: tg.Prefix, AutoPipeline: true,
			Stats: statshttp.Options{Token: token}})
		if err != nil {
			t.Fatal(err)
		}
		defer kit.Close()
		srv := httptest.NewServer(stack(t, kit))
		defer srv.Close()
		first, err := http.Get(srv.URL + "/api/products")
		if err != nil {
			t.Fatal(err)
		}
		first.Body.Close()
		if got := first.Header.Get("X-Cache"); got != "MISS" {
			t.Fatalf("first GET: X-Cache %q", got)
		}
		var wg sync.WaitGroup
		var hits, created atomic.Int64
		for range 40 {
			wg.Go(func() {
				res, err := http.Get(srv.URL + "/api/products")
				if err != nil {
					t.Error(err)
					return
				}
				res.Body.Close()
				if res.Header.Get("X-Cache") == "HIT" {
					hits.Add(1)
				}
			})
			wg.Go(func() {
				res, err := http.Post(srv.URL+"/api/products", "text/plain", nil)
				if err != nil {
					t.Error(err)
					return
				}
				res.Body.Close()
				if res.StatusCode == http.StatusCreated {
					created.Add(1)
				}
			})
		}
		wg.Wait()
		if hits.Load() != 40 {
			t.Errorf("%d of 40 concurrent GETs were hits", hits.Load())
		}
		if created.Load() == 0 {
			t.Error("no POST got through its lock")
		}
		if h.piped.Load() == 0 {
			t.Fatalf("no command went through a pipeline (%d alone)", h.alone.Load())
		}
		t.Logf("%d commands in auto-pipelined batches, %d alone", h.piped.Load(), h.alone.Load())
	})
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}})
	defer ring.Close()
	if _, err := redishttp.New(ring, redishttp.Options{AutoPipeline: true}); !errors.Is(err, fallback.ErrInvalidOptions) {
		t.Fatalf("AutoPipeline on a Ring: err %v, want ErrInvalidOptions", err)
	}
}
