package statshttp_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	mw "github.com/aura-platform/redishttp/middleware"
	"github.com/aura-platform/redishttp/statshttp"
)

// cachedHit is a handler the size of a cache hit served from a local tier:
// find a stored 1 KiB body by key and write it with its headers.
type cachedHit struct {
	store sync.Map // key -> []byte
	obs   mw.Observer
}

func newCachedHit(obs mw.Observer) *cachedHit {
	h := &cachedHit{obs: obs}
	h.store.Store("/weather?city=paris", bytes.Repeat([]byte("x"), 1024))
	return h
}

func (h *cachedHit) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v, ok := h.store.Load(r.URL.RequestURI())
	if !ok {
		http.NotFound(w, r)
		return
	}
	body := v.([]byte)
	if h.obs != nil {
		h.obs.Observe(mw.Event{Kind: mw.CacheHit, Route: "Product Pages", Value: 1})
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	hd.Set("X-Cache", "HIT")
	_, _ = w.Write(body)
}

func benchRecorder(b *testing.B) *statshttp.Recorder {
	rec, err := statshttp.New(nil, statshttp.Options{Token: testToken, Patterns: []string{"Product Pages"}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = rec.Close() })
	return rec
}

// BenchmarkObserveOverhead serves the same cached hit without and with
// recording, side by side in one run: alternating chunks of 500 requests,
// keeping each variant's fastest chunk (the machine's noise only ever adds
// time). It reports both per-hit costs, the overhead, and the cost of one
// Observe measured the same way.
func BenchmarkObserveOverhead(b *testing.B) {
	b.ReportAllocs()
	const chunk = 500
	req := httptest.NewRequest(http.MethodGet, "/weather?city=paris", nil)
	rec := benchRecorder(b)
	bare, recorded := newCachedHit(nil), newCachedHit(rec)
	w := httptest.NewRecorder()
	e := mw.Event{Kind: mw.CacheHit, Route: "Product Pages", Value: 1}
	serve := func(h http.Handler) func() {
		return func() { w.Body.Reset(); h.ServeHTTP(w, req) }
	}
	variants := []func(){serve(bare), serve(recorded), func() { rec.Observe(e) }}
	best := []time.Duration{1 << 62, 1 << 62, 1 << 62}
	b.ResetTimer()
	for done := 0; done < b.N; done += chunk {
		for i, f := range variants {
			start := time.Now()
			for range chunk {
				f()
			}
			best[i] = min(best[i], time.Since(start))
		}
	}
	b.StopTimer()
	ns := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / chunk }
	b.ReportMetric(ns(best[0]), "bare-ns/hit")
	b.ReportMetric(ns(best[1]), "recorded-ns/hit")
	b.ReportMetric((ns(best[1])/ns(best[0])-1)*100, "overhead-%")
	b.ReportMetric(ns(best[2]), "observe-ns")
	b.ReportMetric(ns(best[2])/ns(best[0])*100, "observe/hit-%")
}

// BenchmarkObserveOverheadHTTP does the same for a cached hit served over
// a real loopback HTTP connection (keep-alive), which is what a client of
// a cached route pays for.
func BenchmarkObserveOverheadHTTP(b *testing.B) {
	b.ReportAllocs()
	const chunk = 100
	mux := http.NewServeMux()
	mux.Handle("/bare/", http.StripPrefix("/bare", newCachedHit(nil)))
	mux.Handle("/recorded/", http.StripPrefix("/recorded", newCachedHit(benchRecorder(b))))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	client := srv.Client()
	fetch := func(path string) func() {
		return func() {
			res, err := client.Get(srv.URL + path)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				b.Fatalf("status %d", res.StatusCode)
			}
		}
	}
	variants := []func(){fetch("/bare/weather?city=paris"), fetch("/recorded/weather?city=paris")}
	best := []time.Duration{1 << 62, 1 << 62}
	b.ResetTimer()
	for done := 0; done < b.N; done += chunk {
		for i, f := range variants {
			start := time.Now()
			for range chunk {
				f()
			}
			best[i] = min(best[i], time.Since(start))
		}
	}
	b.StopTimer()
	ns := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / chunk }
	b.ReportMetric(ns(best[0]), "bare-ns/hit")
	b.ReportMetric(ns(best[1]), "recorded-ns/hit")
	b.ReportMetric((ns(best[1])/ns(best[0])-1)*100, "overhead-%")
}

// BenchmarkCachedHit reports the two handlers as separate lines too.
func BenchmarkCachedHit(b *testing.B) {
	req := httptest.NewRequest(http.MethodGet, "/weather?city=paris", nil)
	for _, c := range []struct {
		name string
		obs  mw.Observer
	}{{"bare", nil}, {"recorded", benchRecorder(b)}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			h, w := newCachedHit(c.obs), httptest.NewRecorder()
			for b.Loop() {
				w.Body.Reset()
				h.ServeHTTP(w, req)
			}
		})
	}
}

// BenchmarkObserve is the cost of one Observe: serial, parallel on one
// route, and with the route table full (overflow path).
func BenchmarkObserve(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		rec := benchRecorder(b)
		e := mw.Event{Kind: mw.CacheHit, Route: "Product Pages", Value: 1}
		for b.Loop() {
			rec.Observe(e)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		rec := benchRecorder(b)
		b.RunParallel(func(pb *testing.PB) {
			e := mw.Event{Kind: mw.CacheHit, Route: "Product Pages", Value: 1}
			for pb.Next() {
				rec.Observe(e)
			}
		})
	})
	b.Run("overflow", func(b *testing.B) {
		b.ReportAllocs()
		rec, err := statshttp.New(nil, statshttp.Options{Token: testToken, MaxRoutes: 2})
		if err != nil {
			b.Fatal(err)
		}
		defer rec.Close()
		rec.Observe(mw.Event{Kind: mw.CacheHit, Route: "fills-the-table"})
		e := mw.Event{Kind: mw.CacheHit, Route: "never-stored", Value: 1}
		for b.Loop() {
			rec.Observe(e)
		}
	})
}

// Observe allocates nothing, for known, new-overflow and backend events
// alike.
func TestObserveAllocatesNothing(t *testing.T) {
	rec := newRecorder(t, nil, statshttp.Options{MaxRoutes: 3})
	rec.Observe(mw.Event{Kind: mw.CacheHit, Route: "a"})
	rec.Observe(mw.Event{Kind: mw.CacheHit, Route: "b"})
	for _, e := range []mw.Event{
		{Kind: mw.CacheHit, Route: "a", Value: 1},
		{Kind: mw.RateDenied, Route: "b", Value: 1},
		{Kind: mw.LockAcquired, Route: "beyond-the-cap", Value: 1},
	} {
		if n := testing.AllocsPerRun(1000, func() { rec.Observe(e) }); n != 0 {
			t.Errorf("Observe(%v) allocates %v times", e, n)
		}
	}
}
