package aura_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/examples/server/aura"
	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const token = "e2e-token-0123456789abcdef"

// cluster is N instances of the demo sharing one Redis deployment.
type cluster struct {
	apps []*aura.App
	srvs []*httptest.Server
}

func env(prefix string, extra map[string]string) func(string) (string, bool) {
	m := map[string]string{
		"STATS_TOKEN":            token,
		"UPSTREAM_LATENCY_SCALE": "0.2",
		"KEY_PREFIX":             prefix,
		// miniredis runs Lua in an interpreter on one lock: give it the
		// budget a busy 2-core CI machine needs.
		"REDIS_COMMAND_TIMEOUT": "2s",
	}
	for k, v := range extra {
		m[k] = v
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// start builds n instances. clients[i] nil means embedded mode.
func start(t *testing.T, n int, lookup func(string) (string, bool), client func() redis.UniversalClient) *cluster {
	t.Helper()
	c := &cluster{}
	for i := 0; i < n; i++ {
		cfg, err := aura.LoadConfig(lookup)
		require.NoError(t, err)
		app, err := aura.NewWithClient(cfg, client(), quietLogger())
		require.NoError(t, err)
		srv := httptest.NewServer(app.Handler())
		t.Cleanup(func() { srv.Close(); app.Close() })
		c.apps = append(c.apps, app)
		c.srvs = append(c.srvs, srv)
	}
	return c
}

func (c *cluster) upstreamCalls(api aura.API) int64 {
	var n int64
	for _, a := range c.apps {
		n += a.Upstream().CallsTo(api)
	}
	return n
}

type resp struct {
	status int
	header http.Header
	body   []byte
	took   time.Duration
}

func do(t testing.TB, method, url string, body string, hdr map[string]string) resp {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Error(err)
		return resp{}
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	t0 := time.Now()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return resp{}
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b, took: time.Since(t0)}
}

func TestDemoAcrossThreeInstances(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := start(t, 3, env(tg.Prefix, map[string]string{"AURA_RATE_LIMIT": "5-M", "UPSTREAM_LATENCY_SCALE": "1"}),
			func() redis.UniversalClient { return tg.NewClient(t) })

		t.Run("weather miss then hit, 10x faster", func(t *testing.T) {
			// The seed's real latencies: a 500ms weather upstream.
			url := "/api/weather?lat=48.8566&lon=2.3522"
			miss := do(t, "GET", c.srvs[0].URL+url, "", nil)
			require.Equal(t, 200, miss.status, string(miss.body))
			assert.Equal(t, "MISS", miss.header.Get("X-Cache"))
			// Another instance, and a differently written but equal
			// location (rounded to 2 decimals): the same entry. The hit's
			// time is the median of 5, so one scheduling hiccup on a busy
			// machine does not decide it.
			var hits []resp
			for i := 0; i < 5; i++ {
				hits = append(hits, do(t, "GET", c.srvs[1+i%2].URL+"/api/weather?lon=2.352&lat=48.857", "", nil))
			}
			sort.Slice(hits, func(i, j int) bool { return hits[i].took < hits[j].took })
			hit := hits[2]
			require.Equal(t, 200, hit.status)
			for _, h := range hits {
				assert.Equal(t, "HIT", h.header.Get("X-Cache"))
			}
			assert.Contains(t, hit.header.Get("Cache-Status"), "hit")
			assert.Equal(t, string(miss.body), string(hit.body))
			ratio := float64(miss.took) / float64(hit.took)
			t.Logf("weather miss %v, hit %v: %.0fx", miss.took, hit.took, ratio)
			assert.GreaterOrEqual(t, ratio, 10.0, "a hit must be at least 10x faster than the 100ms upstream")
			assert.NotEmpty(t, hit.header.Get("X-Ratelimit-Limit"))
			assert.NotEmpty(t, hit.header.Get("Ratelimit-Policy"))
		})

		t.Run("100 concurrent first requests cause one upstream call", func(t *testing.T) {
			before := c.upstreamCalls(aura.APIWeather)
			var wg sync.WaitGroup
			var bad atomic.Int64
			for i := 0; i < 100; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					r := do(t, "GET", c.srvs[i%3].URL+"/api/weather?lat=35.68&lon=139.69", "", map[string]string{"X-User-ID": fmt.Sprint("u", i)})
					if r.status != 200 {
						bad.Add(1)
					}
				}(i)
			}
			wg.Wait()
			assert.Zero(t, bad.Load())
			assert.Equal(t, int64(1), c.upstreamCalls(aura.APIWeather)-before)
		})

		t.Run("50 concurrent identical creates make one aura", func(t *testing.T) {
			var wg sync.WaitGroup
			var created, conflict, other atomic.Int64
			start := make(chan struct{})
			for i := 0; i < 50; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					<-start
					// A user of its own per request would hit the per-user
					// aura limit separately; one user is the real race.
					r := do(t, "POST", c.srvs[i%3].URL+"/api/auras", `{"name":"morning"}`, map[string]string{"X-User-ID": "racer"})
					switch r.status {
					case 201:
						created.Add(1)
					case 409, 429:
						conflict.Add(1)
					default:
						other.Add(1)
						t.Logf("unexpected %d %s", r.status, r.body)
					}
				}(i)
			}
			close(start)
			wg.Wait()
			assert.Equal(t, int64(1), created.Load())
			assert.Zero(t, other.Load())
			list := do(t, "GET", c.srvs[2].URL+"/api/auras", "", map[string]string{"X-User-ID": "racer"})
			var out struct{ Auras []aura.Aura }
			require.NoError(t, json.Unmarshal(list.body, &out))
			assert.Len(t, out.Auras, 1)
		})

		t.Run("aura rate limit holds across instances", func(t *testing.T) {
			counts := map[int]int{}
			for i := 0; i < 12; i++ {
				r := do(t, "POST", c.srvs[i%3].URL+"/api/auras", fmt.Sprintf(`{"name":"n%d"}`, i), map[string]string{"X-User-ID": "limited"})
				counts[r.status]++
				if r.status == 429 {
					assert.NotEmpty(t, r.header.Get("Retry-After"))
					assert.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
				}
			}
			assert.Equal(t, 5, counts[201], "%v", counts)
			assert.Equal(t, 7, counts[429], "%v", counts)
		})

		t.Run("PUT subscription invalidates the user's entries on every instance", func(t *testing.T) {
			h := map[string]string{"X-User-ID": "42"}
			first := do(t, "GET", c.srvs[0].URL+"/api/subscription", "", h)
			require.Equal(t, 200, first.status)
			assert.Contains(t, string(first.body), `"plan":"free"`)
			assert.Equal(t, "HIT", do(t, "GET", c.srvs[1].URL+"/api/subscription", "", h).header.Get("X-Cache"))
			// Another user's entry must survive user 42's invalidation.
			do(t, "GET", c.srvs[0].URL+"/api/subscription", "", map[string]string{"X-User-ID": "43"})
			put := do(t, "PUT", c.srvs[2].URL+"/api/subscription", `{"plan":"pro"}`, h)
			require.Equal(t, 200, put.status, string(put.body))
			for _, s := range c.srvs {
				r := do(t, "GET", s.URL+"/api/subscription", "", h)
				assert.Contains(t, string(r.body), `"plan":"pro"`)
			}
			assert.Equal(t, "HIT", do(t, "GET", c.srvs[1].URL+"/api/subscription", "", map[string]string{"X-User-ID": "43"}).header.Get("X-Cache"))
		})

		t.Run("stats on any instance report all three", func(t *testing.T) {
			// Each instance serves one hit of its own on a fresh key.
			for _, s := range c.srvs {
				do(t, "GET", s.URL+"/api/news?topic=go", "", nil)
			}
			var report struct {
				Patterns []struct {
					Name   string `json:"name"`
					Hits   int64  `json:"hits"`
					Misses int64  `json:"misses"`
				} `json:"patterns"`
				Performance struct{ Hits, Misses int64 } `json:"performance"`
				Instances   []json.RawMessage            `json:"instances"`
			}
			deadline := time.Now().Add(4 * time.Second)
			var news struct{ hits, misses int64 }
			for time.Now().Before(deadline) {
				r := do(t, "GET", c.srvs[1].URL+"/api/cache/stats", "", map[string]string{"Authorization": "Bearer " + token})
				require.Equal(t, 200, r.status)
				require.NoError(t, json.Unmarshal(r.body, &report))
				for _, p := range report.Patterns {
					if p.Name == aura.PatternNews {
						news.hits, news.misses = p.Hits, p.Misses
					}
				}
				if news.hits == 2 && news.misses == 1 && len(report.Instances) == 3 {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			assert.Equal(t, int64(2), news.hits)
			assert.Equal(t, int64(1), news.misses)
			assert.Len(t, report.Instances, 3)
			assert.Positive(t, report.Performance.Hits)
		})

		t.Run("admin routes need the token", func(t *testing.T) {
			for _, rt := range []struct{ method, path, body string }{
				{"GET", "/api/cache/stats", ""}, {"GET", "/metrics", ""}, {"GET", "/api/cache/dashboard", ""},
				{"POST", "/api/cache/invalidate", `{"tags":["user:42"]}`},
			} {
				r := do(t, rt.method, c.srvs[0].URL+rt.path, rt.body, nil)
				assert.Equal(t, 401, r.status, rt.path)
				r = do(t, rt.method, c.srvs[0].URL+rt.path, rt.body, map[string]string{"Authorization": "Bearer " + token})
				assert.Equal(t, 200, r.status, rt.path)
			}
		})

		t.Run("pattern invalidation clears only its pattern", func(t *testing.T) {
			do(t, "GET", c.srvs[0].URL+"/api/weather?lat=1&lon=1", "", nil)
			do(t, "GET", c.srvs[0].URL+"/api/news?topic=pattern", "", nil)
			r := do(t, "POST", c.srvs[1].URL+"/api/cache/invalidate", `{"pattern":"weather:*"}`, map[string]string{"Authorization": "Bearer " + token})
			require.Equal(t, 200, r.status, string(r.body))
			assert.Equal(t, "MISS", do(t, "GET", c.srvs[2].URL+"/api/weather?lat=1&lon=1", "", nil).header.Get("X-Cache"))
			assert.Equal(t, "HIT", do(t, "GET", c.srvs[2].URL+"/api/news?topic=pattern", "", nil).header.Get("X-Cache"))
		})

		t.Run("healthz says redis", func(t *testing.T) {
			r := do(t, "GET", c.srvs[0].URL+"/healthz", "", nil)
			assert.Contains(t, string(r.body), `"backend":"redis"`)
		})
	})
}

func TestDemoEmbeddedMode(t *testing.T) {
	c := start(t, 1, env("embedded:", nil), func() redis.UniversalClient { return nil })
	s := c.srvs[0].URL
	r := do(t, "GET", s+"/healthz", "", nil)
	assert.Contains(t, string(r.body), `"backend":"memory"`)
	assert.Equal(t, "MISS", do(t, "GET", s+"/api/news?topic=x", "", nil).header.Get("X-Cache"))
	assert.Equal(t, "HIT", do(t, "GET", s+"/api/news?topic=x", "", nil).header.Get("X-Cache"))
	created := do(t, "POST", s+"/api/auras", `{"name":"a"}`, map[string]string{"X-User-ID": "1"})
	assert.Equal(t, 201, created.status, string(created.body))
	assert.Equal(t, 409, do(t, "POST", s+"/api/auras", `{"name":"a"}`, map[string]string{"X-User-ID": "1"}).status)
}

func TestDemoBadInput(t *testing.T) {
	c := start(t, 1, env("bad:", nil), func() redis.UniversalClient { return nil })
	s := c.srvs[0].URL
	for _, tc := range []struct {
		method, path, body string
		hdr                map[string]string
		want               int
	}{
		{"GET", "/api/weather?lat=91&lon=0", "", nil, 400},
		{"GET", "/api/weather?lat=NaN&lon=0", "", nil, 400},
		{"GET", "/api/news?topic=" + strings.Repeat("x", 100), "", nil, 400},
		{"GET", "/api/subscription", "", nil, 401},
		{"PUT", "/api/subscription", `{"plan":"Pro Plan!"}`, map[string]string{"X-User-ID": "1"}, 422},
		{"PUT", "/api/subscription", `{"plan":`, map[string]string{"X-User-ID": "1"}, 400},
		{"POST", "/api/ai/complete", `{"prompt":""}`, nil, 422},
		{"POST", "/api/ai/complete", `{"prompt":"` + strings.Repeat("a", 20000) + `"}`, nil, 413},
		{"POST", "/api/auras", `{"name":"x"}`, nil, 401},
		{"DELETE", "/api/auras/nope", "", map[string]string{"X-User-ID": "1"}, 404},
		{"GET", "/api/nothing", "", nil, 404},
	} {
		r := do(t, tc.method, s+tc.path, tc.body, tc.hdr)
		assert.Equal(t, tc.want, r.status, "%s %s: %s", tc.method, tc.path, r.body)
		if r.status >= 400 {
			assert.Equal(t, "application/problem+json", r.header.Get("Content-Type"), tc.path)
		}
		assert.NotEmpty(t, r.header.Get("X-Ratelimit-Limit"), "every /api/ response carries rate-limit headers: %s", tc.path)
	}
}

func TestLoadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		ok   bool
	}{
		{"defaults", nil, true},
		{"bad scale", map[string]string{"UPSTREAM_LATENCY_SCALE": "fast"}, false},
		{"bad api rate", map[string]string{"API_RATE_LIMIT": "lots"}, false},
		{"bad aura rate", map[string]string{"AURA_RATE_LIMIT": "0-H"}, false},
		{"bad redis url", map[string]string{"REDIS_URL": "http://user:hunter2@x"}, false},
		{"bad ttl", map[string]string{"CACHE_TTL_WEATHER": "soon"}, true}, // checked by New
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := aura.LoadConfig(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if !tc.ok {
				require.Error(t, err)
				assert.NotContains(t, err.Error(), "hunter2")
				return
			}
			require.NoError(t, err)
			if tc.env == nil {
				assert.Equal(t, ":8080", cfg.Addr)
				assert.Equal(t, int64(1000), cfg.APIRate.Limit)
				assert.Equal(t, int64(100), cfg.AuraRate.Limit)
				assert.True(t, cfg.TokenGenerated)
				assert.Len(t, cfg.StatsToken, 32)
			}
		})
	}
	cfg, err := aura.LoadConfig(func(k string) (string, bool) {
		return map[string]string{"CACHE_TTL_WEATHER": "soon"}[k], k == "CACHE_TTL_WEATHER"
	})
	require.NoError(t, err)
	_, err = aura.NewWithClient(cfg, nil, quietLogger())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "CACHE_TTL_WEATHER")
}
