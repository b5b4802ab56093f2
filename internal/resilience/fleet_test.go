package resilience

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/examples/server/aura"
	"github.com/redis/go-redis/v9"
)

// statsToken is the demo's STATS_TOKEN in every fleet.
const statsToken = "resilience-token-0123456789abcdef"

// fleet is several instances of the demo, each with its own Redis client
// built exactly as the demo builds it (fallback.Config.NewClient from
// REDIS_URL or REDIS_CLUSTER_ADDRS), behind httptest servers.
type fleet struct {
	apps   []*aura.App
	srvs   []*httptest.Server
	hooks  []*errHook
	prefix string
	http   *http.Client
}

// env returns a lookup over vars plus the fleet's defaults.
func env(prefix string, vars map[string]string) func(string) (string, bool) {
	m := map[string]string{
		"STATS_TOKEN":            statsToken,
		"UPSTREAM_LATENCY_SCALE": "0.01",
		"KEY_PREFIX":             prefix,
		"API_RATE_LIMIT":         "1000000-H",
		"AURA_RATE_LIMIT":        "1000000-H",
	}
	// The suite runs with and without auto-pipelining: the demo reads
	// REDIS_AUTOPIPELINE, passed on from the test's environment.
	if v, ok := os.LookupEnv(aura.EnvAutoPipeline); ok {
		m[aura.EnvAutoPipeline] = v
	}
	for k, v := range vars {
		m[k] = v
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// uniquePrefix returns a KEY_PREFIX no other test uses (no glob or hash-tag
// characters).
func uniquePrefix(t testing.TB) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, t.Name())
	return fmt.Sprintf("res-%s-%d:", name, time.Now().UnixNano()%1e9)
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startFleet starts n instances on the Redis that vars name.
func startFleet(t *testing.T, n int, vars map[string]string) *fleet {
	t.Helper()
	return startFleetLogged(t, n, vars, func(int) *slog.Logger { return quietLogger() })
}

// startFleetLogged is startFleet with instance i logging to logger(i).
func startFleetLogged(t *testing.T, n int, vars map[string]string, logger func(i int) *slog.Logger) *fleet {
	t.Helper()
	f := &fleet{prefix: uniquePrefix(t)}
	tr := &http.Transport{
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 128,
		IdleConnTimeout:     5 * time.Second,
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
	}
	// Timeout only catches a hang far beyond every budget; latencies are
	// measured, not bounded, by the client.
	f.http = &http.Client{Transport: tr, Timeout: 20 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	lookup := env(f.prefix, vars)
	for i := range n {
		cfg, err := aura.LoadConfig(lookup)
		if err != nil {
			t.Fatal(err)
		}
		client, err := cfg.Redis.NewClient()
		if err != nil {
			t.Fatal(err)
		}
		hook := &errHook{}
		if client != nil {
			client.AddHook(hook)
		}
		app, err := aura.NewWithClient(cfg, client, logger(i))
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(app.Handler())
		t.Cleanup(func() {
			srv.Close()
			app.Close()
			if client != nil {
				_ = client.Close()
			}
		})
		f.apps = append(f.apps, app)
		f.srvs = append(f.srvs, srv)
		f.hooks = append(f.hooks, hook)
	}
	return f
}

// result is one answered (or failed) request.
type result struct {
	kind       int
	inst       int
	start      time.Time
	took       time.Duration
	status     int // 0: transport error
	retryAfter string
	xcache     string
	limited    bool   // carried X-RateLimit-Remaining
	user, name string // aura creates
	err        error
}

// do sends one request to instance i.
func (f *fleet) do(ctx context.Context, i int, method, path, body string, hdr map[string]string) result {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	res := result{inst: i, start: time.Now()}
	req, err := http.NewRequestWithContext(ctx, method, f.srvs[i].URL+path, rd)
	if err != nil {
		res.err = err
		return res
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := f.http.Do(req)
	if err != nil {
		res.took, res.err = time.Since(res.start), err
		return res
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	res.took = time.Since(res.start)
	res.status = resp.StatusCode
	res.retryAfter = resp.Header.Get("Retry-After")
	res.xcache = resp.Header.Get("X-Cache")
	res.limited = resp.Header.Get("X-Ratelimit-Remaining") != ""
	return res
}

// get sends a request and returns status, headers and body, failing the
// test on a transport error.
func (f *fleet) get(t testing.TB, i int, method, path, body string, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srvs[i].URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := f.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// backend returns instance i's /healthz backend field ("" on error).
func (f *fleet) backend(i int) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srvs[i].URL+"/healthz", nil)
	resp, err := f.http.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var h struct {
		Backend string `json:"backend"`
	}
	if json.NewDecoder(resp.Body).Decode(&h) != nil {
		return ""
	}
	return h.Backend
}

// waitBackend polls every instance's /healthz until all report want,
// returning how long that took, or -1 after limit.
func (f *fleet) waitBackend(want string, limit time.Duration) time.Duration {
	start := time.Now()
	for time.Since(start) < limit {
		all := true
		for i := range f.srvs {
			if f.backend(i) != want {
				all = false
				break
			}
		}
		if all {
			return time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return -1
}

// errHook records every failed Redis command (redis.Nil is not a failure)
// with its time, so a scenario can show when errors happened.
type errHook struct {
	n           atomic.Int64
	mu          sync.Mutex
	first, last time.Time
	firstErr    string
	kinds       map[string]int // error text (addresses stripped) → count
}

func (h *errHook) record(err error) {
	// NOSCRIPT is go-redis' Script.Run learning that a node lacks the
	// script (it retries with EVAL); Canceled is the load's own stop.
	if err == nil || err == redis.Nil || redis.HasErrorPrefix(err, "NOSCRIPT") || errors.Is(err, context.Canceled) {
		return
	}
	h.n.Add(1)
	now := time.Now()
	h.mu.Lock()
	if h.first.IsZero() {
		h.first, h.firstErr = now, err.Error()
	}
	h.last = now
	if h.kinds == nil {
		h.kinds = map[string]int{}
	}
	msg := err.Error()
	if len(h.kinds) < 20 || h.kinds[msg] > 0 {
		h.kinds[msg]++
	}
	h.mu.Unlock()
}

// reset forgets what was recorded so far.
func (h *errHook) reset() {
	h.n.Store(0)
	h.mu.Lock()
	h.first, h.last = time.Time{}, time.Time{}
	h.kinds = nil
	h.mu.Unlock()
}

func (h *errHook) span() (n int64, first, last time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n.Load(), h.first, h.last
}

func (h *errHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := next(ctx, network, addr)
		h.record(err)
		return c, err
	}
}

func (h *errHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.record(err)
		return err
	}
}

func (h *errHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		h.record(err)
		return err
	}
}

// redisErrors sums the failed commands of every instance, with the time of
// the first and last.
func (f *fleet) redisErrors() (n int64, first, last time.Time) {
	for _, h := range f.hooks {
		hn, hf, hl := h.span()
		n += hn
		if hn > 0 && (first.IsZero() || hf.Before(first)) {
			first = hf
		}
		if hl.After(last) {
			last = hl
		}
	}
	return n, first, last
}

// errorKinds returns the distinct error texts seen, with counts.
func (f *fleet) errorKinds() map[string]int {
	out := map[string]int{}
	for _, h := range f.hooks {
		h.mu.Lock()
		for k, v := range h.kinds {
			out[k] += v
		}
		h.mu.Unlock()
	}
	return out
}

// firstError returns the text of the earliest recorded error.
func (f *fleet) firstError() string {
	var at time.Time
	var msg string
	for _, h := range f.hooks {
		h.mu.Lock()
		if !h.first.IsZero() && (at.IsZero() || h.first.Before(at)) {
			at, msg = h.first, h.firstErr
		}
		h.mu.Unlock()
	}
	return msg
}

func (f *fleet) resetErrors() {
	for _, h := range f.hooks {
		h.reset()
	}
}
