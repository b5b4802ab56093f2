package redishttp_test

import (
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

// TestKitAutoPipeline: with Options.AutoPipeline every part sends its
// per-request commands through the client's auto-pipeliner and the stack
// behaves as without it; a client without an auto-pipeliner is refused by
// name.
func TestKitAutoPipeline(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		// Counts the per-request commands, alone and in the auto-pipeliner's batches.
		client, h := redistest.CountedClient(t, tg, func(c redis.Cmder) bool {
			return c.Name() == "evalsha" || c.Name() == "eval" || c.Name() == "set" || c.Name() == "get"
		})
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
		alone, piped := h.Split()
		if piped == 0 {
			t.Fatalf("no command went through a pipeline (%d alone)", alone)
		}
		t.Logf("%d commands in auto-pipelined batches, %d alone", piped, alone)
	})
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}})
	defer ring.Close()
	if _, err := redishttp.New(ring, redishttp.Options{AutoPipeline: true}); !errors.Is(err, fallback.ErrInvalidOptions) {
		t.Fatalf("AutoPipeline on a Ring: err %v, want ErrInvalidOptions", err)
	}
}
