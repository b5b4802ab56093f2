package cachehttp

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// maxLatency is a go-redis hook recording the slowest round trip (command
// or pipeline) as the client sees it.
type maxLatency struct{ max atomic.Int64 }

func (m *maxLatency) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}
func (m *maxLatency) observe(start time.Time) {
	d := int64(time.Since(start))
	for {
		cur := m.max.Load()
		if d <= cur || m.max.CompareAndSwap(cur, d) {
			return
		}
	}
}
func (m *maxLatency) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		defer m.observe(time.Now())
		return next(ctx, cmd)
	}
}
func (m *maxLatency) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		defer m.observe(time.Now())
		return next(ctx, cmds)
	}
}

// BenchmarkInvalidate measures InvalidateTags on one tag with 10,000
// entries and InvalidatePattern over 100,000 keys (half of them matching),
// on a private redis-server (whose SLOWLOG, threshold 0, gives the slowest
// single command server-side) and on REDIS_URL / REDIS_CLUSTER_ADDRS when
// set. Run with -benchtime 1x: each iteration refills.
func BenchmarkInvalidate(b *testing.B) {
	type target struct {
		name    string
		client  redis.UniversalClient
		slowlog *redis.Client
	}
	srv := redistest.StartServer(b)
	priv := srv.Client(b)
	targets := []target{{"private", priv, priv}}
	if u := os.Getenv("REDIS_URL"); u != "" {
		opt, err := redis.ParseURL(u)
		if err != nil {
			b.Fatal(err)
		}
		targets = append(targets, target{name: "redis", client: redis.NewClient(opt)})
	}
	if a := os.Getenv("REDIS_CLUSTER_ADDRS"); a != "" {
		targets = append(targets, target{name: "cluster", client: redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(a, ",")})})
	}
	ctx := context.Background()
	for _, tg := range targets {
		lat := &maxLatency{}
		tg.client.AddHook(lat)
		mon := mustMonitor(fallback.NewMonitor(tg.client, fallback.MonitorOptions{CommandTimeout: 10 * time.Second, Logger: quiet}))
		prefix := fmt.Sprintf("benchinv:%d:", time.Now().UnixNano())
		c, err := New(tg.client, Options{Prefix: prefix, Monitor: mon, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		fill := func(n int, key func(i int) string, tags ...string) {
			var wg sync.WaitGroup
			var next atomic.Int64
			for range 32 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
						if err := Set(ctx, c, key(i), i, time.Hour, WithTags(tags...)); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
		}
		measure := func(b *testing.B, label string, run func() (int, error), want int) {
			if tg.slowlog != nil {
				tg.slowlog.ConfigSet(ctx, "slowlog-log-slower-than", "1000") // µs
				tg.slowlog.ConfigSet(ctx, "slowlog-max-len", "100000")
				tg.slowlog.Do(ctx, "slowlog", "reset")
			}
			lat.max.Store(0)
			start := time.Now()
			b.StartTimer()
			n, err := run()
			b.StopTimer()
			total := time.Since(start)
			if err != nil || n != want {
				b.Fatalf("%s removed %d, %v; want %d", label, n, err, want)
			}
			b.ReportMetric(float64(total.Milliseconds()), "total-ms")
			b.ReportMetric(float64(lat.max.Load())/1e3, "max-roundtrip-µs")
			line := fmt.Sprintf("%s %s: %d entries in %v, slowest round trip %v", tg.name, label, n, total.Round(time.Millisecond),
				time.Duration(lat.max.Load()).Round(time.Microsecond))
			if tg.slowlog != nil {
				var worst int64
				over := 0
				worstCmd := "none over 1ms"
				logs, err := tg.slowlog.SlowLogGet(ctx, -1).Result()
				if err != nil {
					b.Fatal(err)
				}
				for _, e := range logs {
					if strings.ToLower(e.Args[0]) == "config" {
						continue
					}
					over++
					if d := e.Duration.Microseconds(); d > worst {
						worst, worstCmd = d, strings.ToLower(e.Args[0])
					}
				}
				tg.slowlog.ConfigSet(ctx, "slowlog-log-slower-than", "10000")
				b.ReportMetric(float64(worst), "max-cmd-µs")
				b.ReportMetric(float64(over), "cmds-over-1ms")
				line += fmt.Sprintf("; SLOWLOG: %d commands over 1ms, slowest %dµs (%s)", over, worst, worstCmd)
			}
			fmt.Println(line)
		}
		b.Run(tg.name+"/InvalidateTags-10k", func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				fill(10000, func(i int) string { return fmt.Sprint("item:", i) }, "big-tag")
				fill(1000, func(i int) string { return fmt.Sprint("other:", i) }, "small-tag")
				measure(b, "InvalidateTags(1 tag, 10,000 entries)", func() (int, error) { return c.InvalidateTags(ctx, "big-tag") }, 10000)
				_, _ = c.InvalidateTags(ctx, "small-tag")
			}
		})
		b.Run(tg.name+"/InvalidatePattern-100k", func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				fill(100000, func(i int) string {
					if i%2 == 0 {
						return fmt.Sprint("catalog:", i)
					}
					return fmt.Sprint("post:", i)
				})
				measure(b, "InvalidatePattern(catalog:*, 100,000 keys, 50,000 matching)", func() (int, error) {
					return c.InvalidatePattern(ctx, "catalog:*")
				}, 50000)
				_, _ = c.InvalidatePattern(ctx, "*")
			}
		})
		_ = c.Close()
		_ = mon.Close()
		if tg.name != "private" {
			_ = tg.client.Close()
		}
	}
}

// liveTagsState is a cache holding n users' entries, each under its own
// tag, and n recent invalidations of other tags: what a flood of updates
// from distinct users leaves behind.
type liveTagsState struct {
	c   *Cache
	clk *clock
	n   int
}

// BenchmarkInvalidateTagsLiveTags measures one user's update amid n other
// users (1k, 10k, 100k live tags with an entry each, and as many recent
// invalidations): InvalidateTags of the user's tag, then the refill of the
// user's entry. ns/op (and inv-ns/op, the InvalidateTags call alone) must
// stay flat as n grows; mem-visits/op counts the index members, stamps and
// keys the in-memory step visited per call. "embedded" is a nil client; "redis" is REDIS_URL,
// else a private redis-server, where InvalidateTags' in-memory step is what
// could grow. Run with a fixed count, e.g.
//
//	go test -run '^$' -bench InvalidateTagsLiveTags -benchtime 2000x ./cachehttp/
func BenchmarkInvalidateTagsLiveTags(b *testing.B) {
	ctx := context.Background()
	var client redis.UniversalClient
	if u := os.Getenv("REDIS_URL"); u != "" {
		opt, err := redis.ParseURL(u)
		if err != nil {
			b.Fatal(err)
		}
		client = redis.NewClient(opt)
		defer client.Close()
	} else {
		client = redistest.StartServer(b).Client(b)
	}
	states := map[string]*liveTagsState{} // set up once per sub-benchmark, not per run
	setup := func(b *testing.B, mode string, n int) *liveTagsState {
		key := fmt.Sprint(mode, n)
		if s := states[key]; s != nil {
			return s
		}
		var cl redis.UniversalClient
		if mode == "redis" {
			cl = client
		}
		prefix := fmt.Sprintf("benchlive:%d:", time.Now().UnixNano())
		c := newTestCache(b, cl, prefix, Options{Logger: quiet})
		if cl != nil {
			b.Cleanup(func() { _, _ = c.InvalidatePattern(context.Background(), "*") })
		}
		var wg sync.WaitGroup
		var next atomic.Int64
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
					if err := Set(ctx, c, fmt.Sprint("sub:", i), i, 5*time.Minute, WithTags(fmt.Sprint("user:", i))); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		primeInvalidations(b, c, n)
		clk := newClock()
		clk.add(time.Second) // after every invalidation of the set-up
		setClock(c, clk)
		s := &liveTagsState{c: c, clk: clk, n: n}
		states[key] = s
		return s
	}
	for _, mode := range []string{"embedded", "redis"} {
		for _, n := range []int{1000, 10000, 100000} {
			b.Run(fmt.Sprintf("%s/%dk", mode, n/1000), func(b *testing.B) {
				s := setup(b, mode, n)
				b.ReportAllocs()
				var inv time.Duration
				runtime.GC() // not the set-up's garbage
				work := s.c.memory.work.Load()
				b.ResetTimer()
				for i := range b.N {
					u := (i * 7919) % s.n // users in a scattered order
					tag := "user:" + strconv.Itoa(u)
					s.clk.add(time.Millisecond)
					start := time.Now()
					removed, err := s.c.InvalidateTags(ctx, tag)
					inv += time.Since(start)
					if err != nil || removed > 1 {
						b.Fatalf("InvalidateTags = %d, %v", removed, err)
					}
					s.clk.add(time.Millisecond)
					if err := Set(ctx, s.c, "sub:"+strconv.Itoa(u), u, 5*time.Minute, WithTags(tag)); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(inv.Nanoseconds())/float64(b.N), "inv-ns/op")
				b.ReportMetric(float64(s.c.memory.work.Load()-work)/float64(b.N), "mem-visits/op")
			})
		}
	}
}

// primeInvalidations invalidates n tags that hold nothing ("gone:<i>"), as
// many users' earlier updates did.
func primeInvalidations(b *testing.B, c *Cache, n int) {
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				if _, err := c.InvalidateTags(context.Background(), fmt.Sprint("gone:", i)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
