package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/aura-platform/redishttp/examples/server/aura"
)

// weatherPath is the route every weather contender serves.
const weatherPath = "/api/weather?lat=52.52&lon=13.41"

// oursFullStack is the example server (examples/server/aura) as built by
// aura.NewWithClient, with its whole middleware chain, asked for its
// cached, rate-limited weather route with the demo's identity header
// (X-User-ID, which the load generator sends); upstream latency scaled to
// almost nothing and the cache warmed before measuring; a limit never
// reached. pipelined sets REDIS_AUTOPIPELINE=1, as a deployment would.
func oursFullStack(e env, pipelined bool) (http.Handler, func(), error) {
	tok := make([]byte, 16)
	_, _ = rand.Read(tok)
	vars := map[string]string{
		"REDIS_URL":              "redis://" + e.client.Options().Addr + "/0",
		"KEY_PREFIX":             e.prefix,
		"STATS_TOKEN":            hex.EncodeToString(tok),
		"UPSTREAM_LATENCY_SCALE": "0.001",
		"API_RATE_LIMIT":         "1000000000000-H",
		"REDIS_AUTOPIPELINE":     "0",
	}
	if pipelined {
		vars["REDIS_AUTOPIPELINE"] = "1"
	}
	cfg, err := aura.LoadConfig(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		return nil, nil, err
	}
	if cfg.AutoPipeline != pipelined {
		return nil, nil, fmt.Errorf("REDIS_AUTOPIPELINE read as %v", cfg.AutoPipeline)
	}
	app, err := aura.NewWithClient(cfg, e.client, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return nil, nil, err
	}
	h := app.Handler()
	// Warm the cache (and the limiter's script) before measuring.
	for range 3 {
		req := httptest.NewRequest(http.MethodGet, weatherPath, nil)
		req.Header.Set("X-User-ID", "bench")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			app.Close()
			return nil, nil, fmt.Errorf("warm-up: HTTP %d: %.200s", rec.Code, rec.Body.Bytes())
		}
	}
	return h, app.Close, nil
}

// ours full stack (weather): the demo's cached weather hit, without and
// with auto-pipelining.
func init() {
	register(contender{
		order: 80, name: "ours full stack (weather)", group: "ours", baseline: "raw GET + EVALSHA + headers", minCmds: 1,
		path: weatherPath, ceiling: "bare (weather JSON)", check: checkWeatherHit,
		setup: func(_ context.Context, e env) (http.Handler, func(), error) { return oursFullStack(e, false) },
	})
	register(contender{
		order: 81, name: "ours full stack (weather, pipelined)", group: "ours", baseline: "raw GET + EVALSHA + headers (pipelined)", minCmds: 1,
		path: weatherPath, ceiling: "bare (weather JSON)", check: checkWeatherHit,
		setup: func(_ context.Context, e env) (http.Handler, func(), error) { return oursFullStack(e, true) },
	})
}

// checkWeatherHit accepts the weather JSON served from the cache.
func checkWeatherHit(e env, h http.Header, b []byte) error {
	if err := checkWeather(e, h, b); err != nil {
		return err
	}
	if x := h.Get("X-Cache"); x != "HIT" {
		return fmt.Errorf("X-Cache = %q, want HIT (Cache-Status %q)", x, h.Get("Cache-Status"))
	}
	return nil
}

// checkWeather accepts a weather JSON body and logs the response headers,
// so the hand-written baseline can be kept sending the same ones.
func checkWeather(_ env, h http.Header, b []byte) error {
	if !bytes.HasPrefix(b, []byte(`{"lat":52.52,"lon":13.41,`)) {
		return fmt.Errorf("not the weather JSON: %.120q", b)
	}
	slog.Debug("weather response", "headers", h)
	return nil
}
