package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aura-platform/redishttp/cachehttp"
	"github.com/aura-platform/redishttp/lockhttp"
	"github.com/aura-platform/redishttp/middleware"
	"github.com/aura-platform/redishttp/ratelimithttp"
	"github.com/aura-platform/redishttp/statshttp"
	"github.com/ulule/limiter/v3"
)

// capEnv is the state the cases share on one target: the cache and its
// stored entries, which the cold-key, hot-key and tag rows all use.
type capEnv struct {
	cfg      config
	t        *target
	prefix   string
	body     string
	cache    *cachehttp.Cache
	cacheMem memFig
}

func (e *capEnv) close() {
	if e.cache != nil {
		_ = e.cache.Close()
	}
}

func (e *capEnv) load(context.Context) (string, error) { return e.body, nil }

// get is one GetOrLoad of key, checked.
func (e *capEnv) get(ctx context.Context, key string, opts ...cachehttp.LoadOption) error {
	v, err := cachehttp.GetOrLoad(ctx, e.cache, key, time.Hour, e.load, opts...)
	if err == nil && len(v) != len(e.body) {
		err = fmt.Errorf("cache: %d-byte value, want %d", len(v), len(e.body))
	}
	return err
}

// filledCache creates the cache and stores capacityEntries entries, once,
// measuring their memory.
func (e *capEnv) filledCache(ctx context.Context) error {
	if e.cache != nil {
		return nil
	}
	c, err := cachehttp.New(e.t.client, cachehttp.Options{Prefix: e.prefix + "c:"})
	if err != nil {
		return err
	}
	e.cache = c
	e.cacheMem, err = memoryPer(ctx, e.t, e.cfg.conns, *capacityEntries,
		fmt.Sprintf("cache entry (GetOrLoad, %d-byte value)", e.cfg.bodySize),
		func(i int) error { return e.get(ctx, "k"+strconv.Itoa(i)) })
	return err
}

// memoryOnce measures memory per entry on the single node only: the data
// is the same on a cluster, and filling it twice costs seconds. The cache
// and rate-limit rows measure on both, to show the spread.
func (e *capEnv) memoryOnce(ctx context.Context, label string, put func(i int) error) (memFig, error) {
	if e.t.slots != nil {
		return memFig{label: label}, nil
	}
	return memoryPer(ctx, e.t, e.cfg.conns, *capacityEntries, label, put)
}

// spread picks a different entry for each call of each worker.
func spread(w int, i int64) int {
	return int((int64(w)*7919 + i*104729) % int64(*capacityEntries))
}

// capacityCases lists the rows, in table order, for conns goroutines.
func capacityCases(conns int) []capCase {
	return []capCase{
		{
			name:  "cache hit, cold key (GetOrLoad)",
			model: model{kind: spreadGroups, text: "entries spread over 64 {gN} groups"},
			prepare: func(ctx context.Context, e *capEnv) (prepared, error) {
				if err := e.filledCache(ctx); err != nil {
					return prepared{}, err
				}
				return prepared{mem: e.cacheMem, op: func(w int, i int64) error {
					return e.get(ctx, "k"+strconv.Itoa(spread(w, i)))
				}}, nil
			},
		},
		{
			name:  "cache hit, hot key (GetOrLoad)",
			model: model{kind: oneMaster, text: "one key: one master"},
			prepare: func(ctx context.Context, e *capEnv) (prepared, error) {
				if err := e.filledCache(ctx); err != nil {
					return prepared{}, err
				}
				return prepared{op: func(int, int64) error { return e.get(ctx, "k0") }}, nil
			},
		},
		rateLimitCase(1),
		rateLimitCase(3),
		{
			name:    "lock acquire + release (Handler)",
			minCmds: 2,
			model:   model{kind: spreadTags, text: "lock and its fencing counter in one slot ({lock key}); one lock key per goroutine", tags: lockTags(conns)},
			prepare: prepareLock,
		},
		{
			name:    "idempotent create (Handler, Idempotency-Key)",
			minCmds: 4,
			model:   model{kind: spreadSlots, text: "claim and record on the key's slot, lock on its own"},
			prepare: prepareIdempotent,
		},
		{
			name:  fmt.Sprintf("tag invalidation of %d entries (InvalidateTags)", capacityTagged),
			model: model{kind: spreadGroups, text: "scripts per {gN} group, on every master"},
			prepare: func(ctx context.Context, e *capEnv) (prepared, error) {
				return prepared{}, e.filledCache(ctx)
			},
			perCall: tagInvalidation,
		},
		{
			name:    "stats flush of one instance (Recorder.Flush)",
			minCmds: 1,
			model:   model{kind: oneMaster, text: "every key under {stats}: one master"},
			prepare: prepareStats,
		},
	}
}

func rateLimitCase(n int) capCase {
	return capCase{
		name:    fmt.Sprintf("rate-limit decision, %d %s (Take)", n, plural(n, "policy", "policies")),
		minCmds: 1,
		model:   model{kind: spreadSlots, text: "one slot per identity ({identity})"},
		prepare: func(ctx context.Context, e *capEnv) (prepared, error) {
			huge := int64(1) << 40
			ps := []ratelimithttp.Policy{{Name: "hourly", Rate: limiter.Rate{Period: time.Hour, Limit: huge}}}
			if n == 3 {
				ps = append(ps,
					ratelimithttp.Policy{Name: "burst", Rate: limiter.Rate{Period: time.Second, Limit: huge}},
					ratelimithttp.Policy{Name: "daily", Rate: limiter.Rate{Period: 24 * time.Hour, Limit: huge}})
			}
			l, err := ratelimithttp.New(e.t.client, ratelimithttp.Options{Policies: ps, Prefix: e.prefix + "rl" + strconv.Itoa(n) + ":", Route: "cap"})
			if err != nil {
				return prepared{}, err
			}
			take := func(id int) error {
				res, err := l.Take(ctx, "id"+strconv.Itoa(id), 1, "")
				if err == nil && !res.Allowed {
					err = fmt.Errorf("ratelimit: denied")
				}
				return err
			}
			mem, err := memoryPer(ctx, e.t, e.cfg.conns, *capacityEntries,
				fmt.Sprintf("rate-limit identity, %d %s", n, plural(n, "policy", "policies")), take)
			if err != nil {
				_ = l.Close()
				return prepared{}, err
			}
			return prepared{mem: mem, cleanup: func() { _ = l.Close() }, op: func(w int, i int64) error {
				return take(spread(w, i))
			}}, nil
		},
	}
}

// lockTags is the hash tag of each goroutine's lock key in the lock row:
// middleware.ByHeader's "h:<value>" inside lockhttp's braces.
func lockTags(conns int) []string {
	var out []string
	for w := range conns {
		out = append(out, "h:w"+strconv.Itoa(w))
	}
	return out
}

// serve runs one request through h and checks its status.
func serve(h http.Handler, method string, hdr map[string]string, body string, want int) error {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, "/orders", rd)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != want {
		return fmt.Errorf("HTTP %d, want %d: %s", rec.Code, want, strings.TrimSpace(rec.Body.String()))
	}
	return nil
}

// prepareLock: lockhttp around a handler that does nothing, one lock key
// per goroutine (never contended). Memory: the fencing counter each lock
// key leaves for FenceRetention.
func prepareLock(ctx context.Context, e *capEnv) (prepared, error) {
	lk, err := lockhttp.New(e.t.client, lockhttp.Options{
		Key: middleware.ByHeader("X-Lock"), Prefix: e.prefix + "lk:", Route: "cap", FenceRetention: time.Minute,
	})
	if err != nil {
		return prepared{}, err
	}
	h := lk.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	mem, err := e.memoryOnce(ctx, "lock key's fencing counter (kept FenceRetention)", func(i int) error {
		return serve(h, http.MethodPost, map[string]string{"X-Lock": "f" + strconv.Itoa(i)}, "", http.StatusNoContent)
	})
	if err != nil {
		_ = lk.Close()
		return prepared{}, err
	}
	return prepared{mem: mem, cleanup: func() { _ = lk.Close() }, op: func(w int, _ int64) error {
		return serve(h, http.MethodPost, map[string]string{"X-Lock": "w" + strconv.Itoa(w)}, "", http.StatusNoContent)
	}}, nil
}

// idemResponse is what the create handler answers; it is what each
// idempotency record stores (with the status and Content-Type).
const idemResponse = `{"id":"ord_0123456789abcdef","status":"created"}`

// prepareIdempotent: lockhttp's Idempotency-Key path. Every call is a new
// create: a fresh Idempotency-Key (scoped by the X-User header) and a fresh
// lock key, through a handler that answers 201 with a small JSON body,
// which lockhttp stores for replay. Memory: one idempotency record (lock
// keys per goroutine, so the fencing counters do not grow).
func prepareIdempotent(ctx context.Context, e *capEnv) (prepared, error) {
	lk, err := lockhttp.New(e.t.client, lockhttp.Options{
		Key:                   middleware.ByHeader("X-Lock"),
		IdempotencyScope:      middleware.ByHeader("X-User"),
		RequireIdempotencyKey: true,
		Prefix:                e.prefix + "id:",
		Route:                 "cap",
		FenceRetention:        time.Minute,
		IdempotencyRetention:  10 * time.Minute,
	})
	if err != nil {
		return prepared{}, err
	}
	h := lk.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(idemResponse))
	}))
	runID := make([]byte, 4)
	_, _ = rand.Read(runID)
	run := hex.EncodeToString(runID)
	create := func(lock, key string) error {
		return serve(h, http.MethodPost, map[string]string{
			"X-Lock": lock, "X-User": "u1", "Idempotency-Key": key, "Content-Type": "application/json",
		}, `{"name":"`+lock+`"}`, http.StatusCreated)
	}
	mem, err := e.memoryOnce(ctx,
		fmt.Sprintf("idempotency record (201, %d-byte JSON body)", len(idemResponse)), func(i int) error {
			return create(run+"-m"+strconv.Itoa(i%e.cfg.conns), run+"-m"+strconv.Itoa(i))
		})
	if err != nil {
		_ = lk.Close()
		return prepared{}, err
	}
	var seq atomic.Int64 // never repeats across phases: a repeat would be a replay
	return prepared{mem: mem, cleanup: func() { _ = lk.Close() }, op: func(int, int64) error {
		k := "o" + strconv.FormatInt(seq.Add(1), 36)
		return create(run+"-"+k, run+"-"+k)
	}}, nil
}

// prepareStats: one statshttp Recorder per goroutine, each an instance
// that counts a few events on four routes and flushes them, the work one
// instance does once per FlushInterval (1 s by default).
func prepareStats(ctx context.Context, e *capEnv) (prepared, error) {
	recs := make([]*statshttp.Recorder, e.cfg.conns)
	closeAll := func() {
		for _, r := range recs {
			if r != nil {
				_ = r.Close()
			}
		}
	}
	for w := range recs {
		r, err := statshttp.New(e.t.client, statshttp.Options{
			Token:         "capacity-benchmark-token",
			Prefix:        e.prefix + "st:",
			InstanceID:    "w" + strconv.Itoa(w),
			FlushInterval: time.Hour,
		})
		if err != nil {
			closeAll()
			return prepared{}, err
		}
		recs[w] = r
	}
	routes := []string{"products", "profiles", "orders", "search"}
	kinds := []middleware.EventKind{middleware.CacheHit, middleware.CacheMiss, middleware.RateAllowed}
	return prepared{cleanup: closeAll, op: func(w int, i int64) error {
		r := recs[w]
		for _, rt := range routes {
			for _, k := range kinds {
				r.Observe(middleware.Event{Kind: k, Route: rt, Value: 1 + i%3})
			}
		}
		return r.Flush(ctx)
	}}, nil
}

// tagInvalidation tags capacityTagged entries with one tag, invalidates
// it, and repeats for about d; only the InvalidateTags calls are counted
// (counters read right before and after each).
func tagInvalidation(ctx context.Context, e *capEnv, d time.Duration, m *meas) error {
	for stop, n := time.Now().Add(d), 0; n == 0 || time.Now().Before(stop); n++ {
		tag := "t" + strconv.FormatInt(time.Now().UnixNano(), 36)
		var wg sync.WaitGroup
		var firstErr atomic.Value
		for w := range e.cfg.conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < capacityTagged; i += e.cfg.conns {
					if err := e.get(ctx, tag+":e"+strconv.Itoa(i), cachehttp.WithTags(tag)); err != nil {
						firstErr.CompareAndSwap(nil, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if err, ok := firstErr.Load().(error); ok {
			return err
		}
		if err := e.t.resetStats(ctx); err != nil {
			return err
		}
		before, err := e.t.snapshot(ctx, true)
		if err != nil {
			return err
		}
		removed, err := e.cache.InvalidateTags(ctx, tag)
		if err != nil {
			return err
		}
		after, err := e.t.snapshot(ctx, false)
		if err != nil {
			return err
		}
		if removed == 0 {
			return fmt.Errorf("removed no entry, want %d", capacityTagged)
		}
		if removed < capacityTagged {
			// A store that timed out on a busy machine: GetOrLoad still
			// returned the value (the cache fails open), so it is not an
			// error, but the row is then about fewer entries.
			fmt.Fprintf(os.Stderr, "bench: tag invalidation removed %d entries, not %d (a store failed)\n", removed, capacityTagged)
		}
		m.add(before, after, 1)
	}
	return nil
}
