package aura_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMutationsInvalidateAcrossInstances drives the mutation routes, which
// invalidate through cache.InvalidateOnSuccess: a 2xx drops the user's
// entries on every instance before the client sees it, anything else drops
// nothing.
func TestMutationsInvalidateAcrossInstances(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := start(t, 3, env(tg.Prefix, nil), func() redis.UniversalClient { return tg.NewClient(t) })
		h := map[string]string{"X-User-ID": "7"}
		list := func(i int) (xcache string, names []string) {
			r := do(t, "GET", c.srvs[i].URL+"/api/auras", "", h)
			require.Equal(t, 200, r.status, string(r.body))
			var body struct {
				Auras []struct{ ID, Name string } `json:"auras"`
			}
			require.NoError(t, json.Unmarshal(r.body, &body))
			for _, a := range body.Auras {
				names = append(names, a.Name)
			}
			return r.header.Get("X-Cache"), names
		}

		x, names := list(0)
		assert.Equal(t, "MISS", x)
		assert.Empty(t, names)
		x, _ = list(1)
		assert.Equal(t, "HIT", x)

		created := do(t, "POST", c.srvs[2].URL+"/api/auras", `{"name":"dawn"}`, h)
		require.Equal(t, 201, created.status, string(created.body))
		var au struct{ ID string }
		require.NoError(t, json.Unmarshal(created.body, &au))
		for i := range c.srvs {
			_, names = list(i)
			assert.Equal(t, []string{"dawn"}, names, "instance %d after the create", i)
		}

		// A refused create (409) and a refused PUT (422) invalidate nothing.
		require.Equal(t, 409, do(t, "POST", c.srvs[0].URL+"/api/auras", `{"name":"dawn"}`, h).status)
		x, _ = list(1)
		assert.Equal(t, "HIT", x, "a 409 must not invalidate")
		require.Equal(t, 422, do(t, "PUT", c.srvs[0].URL+"/api/subscription", `{"plan":"Not A Plan"}`, h).status)
		x, _ = list(2)
		assert.Equal(t, "HIT", x, "a 422 must not invalidate")

		require.Equal(t, 204, do(t, "DELETE", c.srvs[1].URL+"/api/auras/"+au.ID, "", h).status)
		for i := range c.srvs {
			_, names = list(i)
			assert.Empty(t, names, "instance %d after the delete", i)
		}
		require.Equal(t, 404, do(t, "DELETE", c.srvs[1].URL+"/api/auras/"+au.ID, "", h).status)
	})
}

// cacheCommands counts the Redis commands that touch a key under prefix.
type cacheCommands struct {
	prefix string
	n      atomic.Int64
}

func (h *cacheCommands) count(cmds ...redis.Cmder) {
	for _, cmd := range cmds {
		for _, a := range cmd.Args() {
			if s, ok := a.(string); ok && strings.HasPrefix(s, h.prefix) {
				h.n.Add(1)
				break
			}
		}
	}
}

func (h *cacheCommands) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *cacheCommands) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.count(cmd); return next(ctx, cmd) }
}

func (h *cacheCommands) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.count(cmds...); return next(ctx, cmds) }
}

var _ redis.Hook = (*cacheCommands)(nil)

// TestSharedRoutesServedFromL1 shows the in-process L1 of the weather and
// news routes: their hot hits send no cache command to Redis, and an
// invalidation on another instance still reaches them.
func TestSharedRoutesServedFromL1(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		hook := &cacheCommands{prefix: tg.Prefix + "cache:"}
		c := start(t, 2, env(tg.Prefix, nil), func() redis.UniversalClient {
			cl := tg.NewClient(t)
			cl.AddHook(hook)
			return cl
		})
		for _, url := range []string{"/api/weather?lat=10&lon=20", "/api/news?topic=l1"} {
			assert.Equal(t, "MISS", do(t, "GET", c.srvs[0].URL+url, "", nil).header.Get("X-Cache"), url)
			assert.Equal(t, "HIT", do(t, "GET", c.srvs[0].URL+url, "", nil).header.Get("X-Cache"), url)
			before := hook.n.Load()
			for range 20 {
				assert.Equal(t, "HIT", do(t, "GET", c.srvs[0].URL+url, "", nil).header.Get("X-Cache"), url)
			}
			assert.Zero(t, hook.n.Load()-before, "%s: 20 hot hits sent cache commands to Redis", url)
		}
		// A per-user route stays out of the L1: each hit reads Redis.
		h := map[string]string{"X-User-ID": "9"}
		do(t, "GET", c.srvs[0].URL+"/api/subscription", "", h)
		before := hook.n.Load()
		assert.Equal(t, "HIT", do(t, "GET", c.srvs[0].URL+"/api/subscription", "", h).header.Get("X-Cache"))
		assert.Positive(t, hook.n.Load()-before, "a per-user hit must read Redis")

		// An invalidation on instance 1 drops instance 0's L1 entry.
		r := do(t, "POST", c.srvs[1].URL+"/api/cache/invalidate", `{"pattern":"weather:*"}`,
			map[string]string{"Authorization": "Bearer " + token})
		require.Equal(t, 200, r.status, string(r.body))
		assert.Eventually(t, func() bool {
			return do(t, "GET", c.srvs[0].URL+"/api/weather?lat=10&lon=20", "", nil).header.Get("X-Cache") == "MISS"
		}, 2*time.Second, 10*time.Millisecond)
	})
}
