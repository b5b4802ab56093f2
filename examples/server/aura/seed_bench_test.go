package aura_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aura-platform/redishttp/examples/server/aura"
	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// BenchmarkSeedRoutes measures the seed's figures (weather 500ms → 20ms
// cached, news 800ms → 15ms, subscription 200ms → 5ms, 70% fewer external
// calls) on the demo, beside the ceilings measured in the same run: a bare
// handler writing the same bytes with no Redis, and a handler doing one raw
// go-redis GET of them. Requests are sequential, so ns/op is the latency of
// one request over loopback HTTP.
//
//	REDIS_URL=redis://127.0.0.1:6379/0 go test -run XXX -bench SeedRoutes -benchtime 2000x ./examples/server/aura
func BenchmarkSeedRoutes(b *testing.B) {
	tg := redistest.New(b)
	cfg, err := aura.LoadConfig(env(tg.Prefix, map[string]string{"UPSTREAM_LATENCY_SCALE": "1", "API_RATE_LIMIT": "100000000-H"}))
	if err != nil {
		b.Fatal(err)
	}
	app, err := aura.NewWithClient(cfg, tg.Client, quietLogger())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(app.Close)
	srv := httptest.NewServer(app.Handler())
	b.Cleanup(srv.Close)

	body := strings.Repeat("x", 120) // the weather JSON's size
	if err := tg.Client.Set(b.Context(), tg.Prefix+"raw", body, 0).Err(); err != nil {
		b.Fatal(err)
	}
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, body)
	}))
	b.Cleanup(bare.Close)
	raw := httptest.NewServer(rawGet(tg.Client, tg.Prefix+"raw"))
	b.Cleanup(raw.Close)

	get := func(b *testing.B, url string, hdr map[string]string) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatalf("%s: %d", url, res.StatusCode)
		}
	}
	user := map[string]string{"X-User-ID": "bench"}
	routes := []struct {
		name, path string
		hdr        map[string]string
	}{
		{"weather", "/api/weather?lat=40.71&lon=-74.01", nil},
		{"news", "/api/news?topic=tech", nil},
		{"subscription", "/api/subscription", user},
	}
	b.Run("ceiling=bare", func(b *testing.B) {
		for b.Loop() {
			get(b, bare.URL, nil)
		}
	})
	b.Run("ceiling=raw-GET", func(b *testing.B) {
		for b.Loop() {
			get(b, raw.URL, nil)
		}
	})
	for _, rt := range routes {
		b.Run("hit="+rt.name, func(b *testing.B) {
			get(b, srv.URL+rt.path, rt.hdr) // the miss that fills the entry
			b.ResetTimer()
			for b.Loop() {
				get(b, srv.URL+rt.path, rt.hdr)
			}
		})
	}
	// The seed's "70% fewer external calls": a day's traffic is many
	// requests over few locations and topics. 20 locations x 50 requests.
	b.Run("mix=weather-20-locations", func(b *testing.B) {
		round := 0
		for b.Loop() {
			round++
			before := app.Upstream().CallsTo(aura.APIWeather)
			const n = 1000
			for i := 0; i < n; i++ {
				get(b, fmt.Sprintf("%s/api/weather?lat=%d&lon=%d", srv.URL, i%20, round%180), nil)
			}
			calls := app.Upstream().CallsTo(aura.APIWeather) - before
			b.ReportMetric(100*(1-float64(calls)/n), "%-calls-saved")
		}
	})
}

func rawGet(c redis.UniversalClient, key string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := c.Get(r.Context(), key).Bytes()
		if err != nil {
			http.Error(w, "redis", 500)
			return
		}
		_, _ = w.Write(v)
	})
}
