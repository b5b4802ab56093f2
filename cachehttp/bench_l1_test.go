package cachehttp

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/fallback"
)

// BenchmarkL1Hit compares, side by side in one run, a hot cache hit served
// from the L1 with the same handler and no cache at all (1 KiB body,
// b.RunParallel with 50 goroutines). The ratio is printed at the end; the
// L1 hit costs no Redis round trip (redis-rt/op).
func BenchmarkL1Hit(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 1024)
	for name, newClient := range benchTargets(b) {
		client := newClient()
		defer client.Close()
		trips := &tripCounter{}
		client.AddHook(trips)
		mon := mustMonitor(fallback.NewMonitor(client, fallback.MonitorOptions{CommandTimeout: 5 * time.Second, Logger: quiet}))
		defer mon.Close()
		prefix := fmt.Sprintf("benchl1:%d:", time.Now().UnixNano())
		c, err := New(client, Options{Prefix: prefix, Monitor: mon, L1Bytes: 64 << 20, L1TTL: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		waitFor(b, 5*time.Second, "subscription", c.coherent)
		rc, _ := c.NewRoute(Route{Name: "bench", TTL: time.Hour})
		origin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		})
		cached := rc.Handler(origin)
		req, _ := http.NewRequest("GET", "http://bench.local/item?id=1", nil)
		for range 2 {
			cached.ServeHTTP(&discardWriter{h: http.Header{}}, req) // fill Redis, then L1
		}
		ns := map[string]float64{}
		run := func(label string, h http.Handler) {
			b.Run(name+"/"+label, func(b *testing.B) {
				b.ReportAllocs()
				trips.n.Store(0)
				b.SetParallelism(25)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					w := &discardWriter{h: make(http.Header, 8)}
					for pb.Next() {
						w.reset()
						h.ServeHTTP(w, req)
						if w.n != len(body) {
							b.Fatalf("%d bytes", w.n)
						}
					}
				})
				b.StopTimer()
				b.ReportMetric(float64(trips.n.Load())/float64(b.N), "redis-rt/op")
				ns[label] = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			})
		}
		// Over loopback HTTP (keep-alive, 50 concurrent clients): what a
		// deployment sees, net/http's cost included on both sides.
		bareSrv := httptest.NewServer(origin)
		defer bareSrv.Close()
		cachedSrv := httptest.NewServer(cached)
		defer cachedSrv.Close()
		tr := &http.Transport{MaxIdleConnsPerHost: 64}
		defer tr.CloseIdleConnections()
		hc := &http.Client{Transport: tr}
		runHTTP := func(label, url string) {
			b.Run(name+"/"+label, func(b *testing.B) {
				b.ReportAllocs()
				trips.n.Store(0)
				b.SetParallelism(25)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						resp, err := hc.Get(url + "/item?id=1")
						if err != nil {
							b.Fatal(err)
						}
						n, _ := io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if n != int64(len(body)) {
							b.Fatalf("%d bytes", n)
						}
					}
				})
				b.StopTimer()
				b.ReportMetric(float64(trips.n.Load())/float64(b.N), "redis-rt/op")
				ns[label] = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			})
		}
		for range 2 { // alternate, keep the last
			run("bare-handler", origin)
			run("l1-hit", cached)
			runHTTP("http/bare-handler", bareSrv.URL)
			runHTTP("http/l1-hit", cachedSrv.URL)
		}
		for _, p := range []string{"", "http/"} {
			if bare, l1 := ns[p+"bare-handler"], ns[p+"l1-hit"]; bare > 0 && l1 > 0 {
				fmt.Printf("ratio %s %s: L1 hot hit throughput = %.2f x bare handler (%.0f vs %.0f ns/op)\n", name, p, bare/l1, l1, bare)
			}
		}
		_, _ = c.InvalidatePattern(b.Context(), "*")
	}
}
