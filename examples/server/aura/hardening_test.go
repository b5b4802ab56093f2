package aura_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/examples/server/aura"
	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/aura-platform/redishttp/middleware"
	chimw "github.com/go-chi/chi/v5/middleware"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serveIn sends one request through h in process, from the TCP peer
// remote (default 192.0.2.1:1234).
func serveIn(h http.Handler, method, target, body, remote string, hdr map[string]string) *httptest.ResponseRecorder {
	var req *http.Request
	if body != "" {
		req = httptest.NewRequest(method, target, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	} else {
		req = httptest.NewRequest(method, target, nil)
	}
	if remote != "" {
		req.RemoteAddr = remote
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func isProblem(t *testing.T, w *httptest.ResponseRecorder, status int) {
	t.Helper()
	assert.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
	var p middleware.Problem
	if assert.NoError(t, json.Unmarshal(w.Body.Bytes(), &p), w.Body.String()) {
		assert.Equal(t, status, p.Status)
	}
}

// nameVariants are bodies that all name the aura "dup" as the handler reads
// them: white space around it, the field name in another case, a duplicate
// field (the last wins), a JSON escape.
var nameVariants = []string{
	`{"name":"dup"}`, `{"name":"dup "}`, `{"name":" dup"}`, `{"NAME":"dup"}`,
	`{"name":"x","name":"dup"}`, `{"Name":"\tdup"}`, `{"name":"d\u0075p"}`, `{"nAmE":"dup\n"}`,
}

// Concurrent creates of every spelling of one name, spread over three
// instances on one Redis, store exactly one aura.
func TestAuraNameVariantsAcrossInstances(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := start(t, 3, env(tg.Prefix, map[string]string{"AURA_RATE_LIMIT": "100000-H", "API_RATE_LIMIT": "100000-H"}),
			func() redis.UniversalClient { return tg.NewClient(t) })
		const rounds = 3
		var wg sync.WaitGroup
		var created, conflict, other atomic.Int64
		gate := make(chan struct{})
		for r := range rounds {
			for i, body := range nameVariants {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-gate
					res := do(t, "POST", c.srvs[(r+i)%3].URL+"/api/auras", body, map[string]string{"X-User-ID": "variant"})
					switch res.status {
					case 201:
						created.Add(1)
					case 409:
						conflict.Add(1)
					default:
						other.Add(1)
						t.Logf("%s: %d %s", body, res.status, res.body)
					}
				}()
			}
		}
		close(gate)
		wg.Wait()
		t.Logf("%d creates of %d spellings over 3 instances: %d created, %d conflict", rounds*len(nameVariants), len(nameVariants), created.Load(), conflict.Load())
		assert.Equal(t, int64(1), created.Load(), "auras created")
		assert.Zero(t, other.Load())
		list := do(t, "GET", c.srvs[1].URL+"/api/auras", "", map[string]string{"X-User-ID": "variant"})
		var out struct{ Auras []aura.Aura }
		require.NoError(t, json.Unmarshal(list.body, &out))
		require.Len(t, out.Auras, 1)
		assert.Equal(t, "dup", out.Auras[0].Name)

		// One body, two spellings of the field: the lock and the handler
		// agree on the last, "b".
		r := do(t, "POST", c.srvs[0].URL+"/api/auras", `{"name":"a","NAME":"b"}`, map[string]string{"X-User-ID": "twofields"})
		require.Equal(t, 201, r.status, string(r.body))
		assert.Contains(t, string(r.body), `"name":"b"`)
		assert.Equal(t, 409, do(t, "POST", c.srvs[1].URL+"/api/auras", `{"name":" b"}`, map[string]string{"X-User-ID": "twofields"}).status)
		assert.Equal(t, 201, do(t, "POST", c.srvs[2].URL+"/api/auras", `{"name":"a"}`, map[string]string{"X-User-ID": "twofields"}).status)

		// Deleting frees the name for every spelling.
		var au aura.Aura
		require.NoError(t, json.Unmarshal(r.body, &au))
		require.Equal(t, 204, do(t, "DELETE", c.srvs[0].URL+"/api/auras/"+au.ID, "", map[string]string{"X-User-ID": "twofields"}).status)
		assert.Equal(t, 201, do(t, "POST", c.srvs[1].URL+"/api/auras", `{"name":"b "}`, map[string]string{"X-User-ID": "twofields"}).status)
	})
}

func TestAuraNameKey(t *testing.T) {
	same := [][]string{
		{"dup", " dup ", "dup\t", "\n dup"},
		{"my aura", " my aura "},
	}
	for _, group := range same {
		for _, n := range group[1:] {
			assert.Equal(t, aura.AuraNameKey(group[0]), aura.AuraNameKey(n), "%q vs %q", group[0], n)
		}
	}
	// Case and inner spaces count: these were distinct auras before and stay so.
	for _, pair := range [][2]string{{"dup", "dupe"}, {"dup", "d up"}, {"dup", "Dup"}, {"my aura", "my  aura"}} {
		assert.NotEqual(t, aura.AuraNameKey(pair[0]), aura.AuraNameKey(pair[1]), "%q vs %q", pair[0], pair[1])
	}
}

// A create body over the demo's JSON limit is 413 problem JSON, in embedded
// mode and on Redis, without creating anything.
func TestCreateBodyTooLarge(t *testing.T) {
	huge := `{"name":"big","pad":"` + strings.Repeat("x", 3<<20) + `"}`
	check := func(t *testing.T, c *cluster) {
		h := c.apps[0].Handler()
		w := serveIn(h, "POST", "/api/auras", huge, "", map[string]string{"X-User-ID": "big"})
		require.Equal(t, http.StatusRequestEntityTooLarge, w.Code, w.Body.String())
		isProblem(t, w, 413)
		// Over the network too: the client gets the 413, not a reset.
		res := do(t, "POST", c.srvs[0].URL+"/api/auras", huge, map[string]string{"X-User-ID": "big"})
		assert.Equal(t, 413, res.status, string(res.body))
		list := serveIn(h, "GET", "/api/auras", "", "", map[string]string{"X-User-ID": "big"})
		assert.Contains(t, list.Body.String(), `"auras":[]`)
	}
	t.Run("embedded", func(t *testing.T) {
		check(t, start(t, 1, env("toolarge:", nil), func() redis.UniversalClient { return nil }))
	})
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		check(t, start(t, 1, env(tg.Prefix, nil), func() redis.UniversalClient { return tg.NewClient(t) }))
	})
}

// A STATS_TOKEN shorter than statshttp.MinTokenLength stops the demo at
// startup with an error saying why and how to make one; none at all still
// gets a generated one.
func TestWeakStatsTokenRefused(t *testing.T) {
	for _, tok := range []string{"abc", "Zq9weakTok", "0123456789abcde"} {
		_, err := aura.LoadConfig(func(k string) (string, bool) { return map[string]string{"STATS_TOKEN": tok}[k], k == "STATS_TOKEN" })
		require.ErrorIs(t, err, aura.ErrConfig, tok)
		for _, want := range []string{"STATS_TOKEN", strconv.Itoa(len(tok)) + " bytes", "at least 16", "openssl rand -hex 32"} {
			assert.Contains(t, err.Error(), want)
		}
		assert.NotContains(t, err.Error(), tok, "the error must not echo the token")
	}
	cfg, err := aura.LoadConfig(func(k string) (string, bool) {
		return map[string]string{"STATS_TOKEN": "0123456789abcdef"}[k], k == "STATS_TOKEN"
	})
	require.NoError(t, err)
	assert.False(t, cfg.TokenGenerated)
	cfg, err = aura.LoadConfig(func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	assert.True(t, cfg.TokenGenerated)
	assert.GreaterOrEqual(t, len(cfg.StatsToken), 16)
}

// adminRoutes are every route the stats token protects (routes.go).
var adminRoutes = []struct{ method, path, body string }{
	{"GET", "/api/cache/stats", ""}, {"GET", "/metrics", ""}, {"GET", "/api/cache/dashboard", ""},
	{"POST", "/api/cache/invalidate", `{"tags":["user:1"]}`},
}

// Guessing the admin token is throttled per client address on every admin
// route, /metrics included: after 10 failures in a minute the address gets
// 429 with Retry-After even with the right token; other addresses, and
// successful requests, are not affected.
func TestAdminAuthFailuresLimited(t *testing.T) {
	c := start(t, 1, env("adminlimit:", map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8"}), func() redis.UniversalClient { return nil })
	h := c.apps[0].Handler()
	good := map[string]string{"Authorization": "Bearer " + token}
	const attacker, admin, proxy = "203.0.113.50:1000", "198.51.100.5:2000", "10.0.0.7:3000"
	// Successful requests never count.
	for i := range 30 {
		rt := adminRoutes[i%len(adminRoutes)]
		require.Equal(t, 200, serveIn(h, rt.method, rt.path, rt.body, admin, good).Code)
	}
	for i := range 10 {
		rt := adminRoutes[i%len(adminRoutes)]
		w := serveIn(h, rt.method, rt.path, rt.body, attacker, map[string]string{"Authorization": fmt.Sprintf("Bearer guess-%d-0123456789abcdef", i)})
		require.Equal(t, 401, w.Code, "guess %d on %s", i, rt.path)
	}
	for _, rt := range adminRoutes {
		w := serveIn(h, rt.method, rt.path, rt.body, attacker, good)
		assert.Equal(t, http.StatusTooManyRequests, w.Code, "%s with the right token after 10 failures", rt.path)
		ra, err := strconv.Atoi(w.Header().Get("Retry-After"))
		assert.True(t, err == nil && ra >= 1 && ra <= 60, "Retry-After %q", w.Header().Get("Retry-After"))
		isProblem(t, w, 429)
		assert.Equal(t, 200, serveIn(h, rt.method, rt.path, rt.body, admin, good).Code, "%s from another address", rt.path)
	}
	// Behind the trusted proxy, the client the proxy names is counted: a
	// client writing its own X-Forwarded-For entries cannot reset it.
	for i := range 10 {
		serveIn(h, "GET", "/metrics", "", proxy, map[string]string{"X-Forwarded-For": fmt.Sprintf("1.2.3.%d, 198.51.100.99", i)})
	}
	hdr := map[string]string{"Authorization": "Bearer " + token, "X-Forwarded-For": "9.9.9.9, 198.51.100.99"}
	assert.Equal(t, 429, serveIn(h, "GET", "/metrics", "", proxy, hdr).Code, "spoofed leftmost hop through the proxy")
	hdr["X-Forwarded-For"] = "198.51.100.100"
	assert.Equal(t, 200, serveIn(h, "GET", "/metrics", "", proxy, hdr).Code, "another client behind the proxy")
}

// chi's middleware.RealIP in front of the demo rewrites RemoteAddr from
// X-Forwarded-For, so a client that writes a new address in it per request
// gets a new rate-limit bucket each time. The documented setup (no RealIP;
// TRUSTED_PROXIES, which the demo gives middleware.NewClientIP) holds.
func TestRealIPUndoesTrustedProxies(t *testing.T) {
	vars := map[string]string{"API_RATE_LIMIT": "3-M", "TRUSTED_PROXIES": "10.0.0.0/8"}
	spoof := func(h http.Handler, i int) int {
		return serveIn(h, "GET", "/api/news?topic=go", "", "203.0.113.7:4711",
			map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.100.%d", i+1)}).Code
	}
	t.Run("RealIP in front: the limit is bypassed", func(t *testing.T) {
		c := start(t, 1, env("realip-bad:", vars), func() redis.UniversalClient { return nil })
		//lint:ignore SA1019 the test shows the spoof that got RealIP deprecated
		h := chimw.RealIP(c.apps[0].Handler())
		served := 0
		for i := range 20 {
			if spoof(h, i) == 200 {
				served++
			}
		}
		t.Logf("behind chi RealIP: %d of 20 spoofed requests served with a limit of 3", served)
		assert.Equal(t, 20, served, "the spoof this test documents no longer works: update the docs")
	})
	t.Run("ClientIP with the proxy CIDRs: the limit holds", func(t *testing.T) {
		c := start(t, 1, env("realip-good:", vars), func() redis.UniversalClient { return nil })
		h := c.apps[0].Handler()
		codes := map[int]int{}
		for i := range 20 {
			codes[spoof(h, i)]++
		}
		t.Logf("without RealIP: %v", codes)
		assert.Equal(t, 3, codes[200])
		assert.Equal(t, 17, codes[429])
	})
}

// markKey marks the contexts of the requests a test sends, so a hook can
// count the Redis commands those requests cause (and not the background
// flushes and probes).
type markKey struct{}

type countHook struct{ n atomic.Int64 }

func (h *countHook) count(ctx context.Context, n int) {
	if ctx.Value(markKey{}) != nil {
		h.n.Add(int64(n))
	}
}
func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.count(ctx, 1)
		return next(ctx, cmd)
	}
}
func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.count(ctx, len(cmds))
		return next(ctx, cmds)
	}
}

// While Redis hangs (SIGSTOP) and the breaker is open, the demo's own data
// calls (plans and auras) fail fast with 503, Retry-After and problem JSON,
// without sending Redis a command, instead of each waiting out a timeout.
func TestDataStoreFailsFastWhileRedisPaused(t *testing.T) {
	srv := redistest.StartServer(t)
	cfg, err := aura.LoadConfig(env("paused:", map[string]string{
		"REDIS_URL":             "redis://" + srv.Addr + "/0",
		"REDIS_COMMAND_TIMEOUT": "150ms",
	}))
	require.NoError(t, err)
	client, err := cfg.Redis.NewClient()
	require.NoError(t, err)
	hook := &countHook{}
	client.AddHook(hook)
	app, err := aura.NewWithClient(cfg, client, quietLogger())
	require.NoError(t, err)
	t.Cleanup(func() { srv.Resume(); app.Close(); _ = client.Close() })
	base := app.Handler()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), markKey{}, true)))
	})
	user := func(i int) map[string]string { return map[string]string{"X-User-ID": "paused-" + strconv.Itoa(i)} }
	require.Equal(t, 200, serveIn(h, "PUT", "/api/subscription", `{"plan":"pro"}`, "", user(0)).Code)
	require.Equal(t, "redis", app.Monitor().State().String())

	srv.Pause()
	// The monitor learns of the hang from the requests that meet it (an
	// idle healthy instance does not poll): the first one times out and
	// starts the probes that open the breaker.
	serveIn(h, "GET", "/api/subscription", "", "", user(0))
	deadline := time.Now().Add(10 * time.Second)
	for app.Monitor().Available() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	require.False(t, app.Monitor().Available(), "the breaker never opened")

	calls := []struct{ method, path, body string }{
		{"PUT", "/api/subscription", `{"plan":"team"}`},
		{"GET", "/api/subscription", ""},
		{"GET", "/api/auras", ""},
		{"DELETE", "/api/auras/abc", ""},
	}
	before := hook.n.Load()
	var took []time.Duration
	for i := range 40 {
		c := calls[i%len(calls)]
		t0 := time.Now()
		w := serveIn(h, c.method, c.path, c.body, "", user(100+i))
		took = append(took, time.Since(t0))
		require.Equal(t, http.StatusServiceUnavailable, w.Code, "%s %s: %s", c.method, c.path, w.Body)
		assert.Equal(t, "1", w.Header().Get("Retry-After"), c.path)
		isProblem(t, w, 503)
	}
	sent := hook.n.Load() - before
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	median := took[len(took)/2]
	ct := app.Monitor().CommandTimeout()
	t.Logf("breaker open: 40 data calls, median %v, max %v (command timeout %v), %d Redis commands sent", median, took[len(took)-1], ct, sent)
	assert.Zero(t, sent, "data calls sent commands to Redis while the breaker was open")
	assert.Less(t, median, ct/2, "data calls must return well before the command timeout while the breaker is open")

	// Throughput of subscription writes while Redis stays paused, for the
	// record (not asserted: the machine is shared).
	var done atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				serveIn(h, "PUT", "/api/subscription", `{"plan":"team"}`, "", user(1000*g+i))
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	t.Logf("paused Redis, breaker open: %d subscription PUTs in 1s from 8 workers", done.Load())
}
