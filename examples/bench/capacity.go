package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aura-platform/redishttp/cachehttp"
	"github.com/aura-platform/redishttp/lockhttp"
	"github.com/aura-platform/redishttp/middleware"
	"github.com/aura-platform/redishttp/ratelimithttp"
	"github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"
)

// capacityFlag selects the capacity model instead of the HTTP comparison.
var capacityFlag = flag.Bool("capacity", false,
	"measure Redis-side cost per feature operation (INFO commandstats) and memory per entry, and print a capacity table")

// capacityEntries is how many cache entries and rate-limit identities are
// written for the memory figures and the cold-key rows.
const capacityEntries = 20000

// capacityTagged is how many entries one tag invalidation removes.
const capacityTagged = 1000

// cmdStat is one command's cumulative calls and microseconds.
type cmdStat struct{ calls, usec int64 }

// capRow is one line of the capacity table.
type capRow struct {
	name        string
	ops         int64
	cmds        float64 // Redis commands per operation
	usec        float64 // Redis CPU microseconds per operation
	commands    string  // the commands seen, most frequent first
	bytesPerKey float64 // memory per entry; 0 when not measured
}

// maybeRunCapacity runs the capacity model and exits when -capacity is set;
// otherwise it returns and the HTTP comparison runs.
func maybeRunCapacity(cfg config, private string) {
	if *capacityFlag {
		os.Exit(runCapacity(cfg, private, os.Stdout))
	}
}

// runCapacity drives each feature in-process against Redis with cfg.conns
// goroutines for cfg.duration, reads INFO commandstats around it, and
// prints a markdown table. It returns the process exit code.
func runCapacity(cfg config, private string, out io.Writer) int {
	if private != "" {
		addr, stop, err := startPrivateRedis(private)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		defer stop()
		cfg.redisAddr = addr
	} else {
		fmt.Fprintln(os.Stderr, "bench: -capacity without -private-redis: other clients of this Redis distort INFO commandstats")
	}
	if err := capacity(cfg, out); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	return 0
}

func capacity(cfg config, out io.Writer) error {
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{Addr: cfg.redisAddr, PoolSize: cfg.conns + 10})
	defer client.Close()
	sent := &cmdCounter{}
	client.AddHook(sent)
	admin := redis.NewClient(&redis.Options{Addr: cfg.redisAddr})
	defer admin.Close()
	if err := admin.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis at %s: %w", cfg.redisAddr, err)
	}
	runID := make([]byte, 4)
	_, _ = rand.Read(runID)
	prefix := "cap:" + hex.EncodeToString(runID) + ":"
	body := strings.Repeat("a", cfg.bodySize)

	var rows []capRow
	add := func(r capRow, err error) error {
		if err != nil {
			return err
		}
		rows = append(rows, r)
		fmt.Fprintf(os.Stderr, "%-40s %9d ops  %.2f cmds/op  %.2f usec/op  %s\n", r.name, r.ops, r.cmds, r.usec, r.commands)
		return nil
	}

	// Cache: GetOrLoad over capacityEntries spread keys and one hot key.
	c, err := cachehttp.New(client, cachehttp.Options{Prefix: prefix + "c:"})
	if err != nil {
		return err
	}
	defer c.Close()
	load := func(context.Context) (string, error) { return body, nil }
	get := func(ctx context.Context, key string) error {
		v, err := cachehttp.GetOrLoad(ctx, c, key, time.Hour, load)
		if err == nil && len(v) != len(body) {
			err = fmt.Errorf("cache: %d-byte value, want %d", len(v), len(body))
		}
		return err
	}
	perEntry, err := memoryPer(ctx, admin, capacityEntries, func(i int) error { return get(ctx, "k"+strconv.Itoa(i)) })
	if err != nil {
		return err
	}
	r, err := drive(ctx, admin, sent, cfg, "cache hit, cold key (GetOrLoad)", func(w int, i int64) error {
		return get(ctx, "k"+strconv.Itoa(int((int64(w)*7919+i*104729)%capacityEntries)))
	})
	r.bytesPerKey = perEntry
	if err := add(r, err); err != nil {
		return err
	}
	if err := add(drive(ctx, admin, sent, cfg, "cache hit, hot key (GetOrLoad)", func(int, int64) error { return get(ctx, "k0") })); err != nil {
		return err
	}

	// Rate limiting: Take with 1 and 3 policies, identities spread.
	huge := int64(1) << 40
	for _, n := range []int{1, 3} {
		ps := []ratelimithttp.Policy{{Name: "hourly", Rate: limiter.Rate{Period: time.Hour, Limit: huge}}}
		if n == 3 {
			ps = append(ps,
				ratelimithttp.Policy{Name: "burst", Rate: limiter.Rate{Period: time.Second, Limit: huge}},
				ratelimithttp.Policy{Name: "daily", Rate: limiter.Rate{Period: 24 * time.Hour, Limit: huge}})
		}
		l, err := ratelimithttp.New(client, ratelimithttp.Options{Policies: ps, Prefix: prefix + "rl" + strconv.Itoa(n) + ":", Route: "cap"})
		if err != nil {
			return err
		}
		take := func(id int) error {
			res, err := l.Take(ctx, "id"+strconv.Itoa(id), 1, "")
			if err == nil && !res.Allowed {
				err = fmt.Errorf("ratelimit: denied")
			}
			return err
		}
		perID := 0.0
		if n == 1 {
			if perID, err = memoryPer(ctx, admin, capacityEntries, take); err != nil {
				_ = l.Close()
				return err
			}
		}
		r, err := drive(ctx, admin, sent, cfg, fmt.Sprintf("rate-limit decision, %d %s (Take)", n, plural(n, "policy", "policies")), func(w int, i int64) error {
			return take(int((int64(w)*7919 + i*104729) % capacityEntries))
		})
		r.bytesPerKey = perID
		_ = l.Close()
		if err := add(r, err); err != nil {
			return err
		}
	}

	// Lock: lockhttp around a no-op handler, one lock key per goroutine.
	lk, err := lockhttp.New(client, lockhttp.Options{
		Key: middleware.ByHeader("X-Lock"), Prefix: prefix + "lk:", Route: "cap", FenceRetention: time.Minute,
	})
	if err != nil {
		return err
	}
	h := lk.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	r, err = drive(ctx, admin, sent, cfg, "lock acquire + release (Handler)", func(w int, _ int64) error {
		req := httptest.NewRequest(http.MethodPost, "/", nil)
		req.Header.Set("X-Lock", "w"+strconv.Itoa(w))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNoContent {
			return fmt.Errorf("lock: HTTP %d", rec.Code)
		}
		return nil
	})
	_ = lk.Close()
	if err := add(r, err); err != nil {
		return err
	}

	// Tag invalidation: InvalidateTags over capacityTagged tagged entries.
	if err := add(tagInvalidation(ctx, admin, sent, c, body, cfg)); err != nil {
		return err
	}

	info, _ := admin.Info(ctx, "server").Result()
	fmt.Fprintf(out, "Go %s, %s/%s, %d CPUs; Redis %s at %s; %d goroutines, %v per row, %d-byte values.\n\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), infoField(info, "redis_version"),
		cfg.redisAddr, cfg.conns, cfg.duration, cfg.bodySize)
	fmt.Fprintln(out, "| operation | Redis commands / op | Redis µs / op | ops/s per Redis core (upper bound) | bytes per entry | commands |")
	fmt.Fprintln(out, "|---|---:|---:|---:|---:|---|")
	for _, r := range rows {
		mem := "–"
		if r.bytesPerKey > 0 {
			mem = fmt.Sprintf("%.0f", r.bytesPerKey)
		}
		fmt.Fprintf(out, "| %s | %.2f | %.2f | %s | %s | %s |\n", r.name, r.cmds, r.usec, opsPerCore(r.usec), mem, r.commands)
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func opsPerCore(usec float64) string {
	if usec <= 0 {
		return "–"
	}
	v := 1e6 / usec
	if v >= 1000 {
		return fmt.Sprintf("%.0fk", v/1000)
	}
	return fmt.Sprintf("%.1f", v)
}

// drive runs op from cfg.conns goroutines for cfg.warmup (unmeasured) and
// then cfg.duration, and turns the commandstats difference over the
// measured part into per-operation figures.
func drive(ctx context.Context, admin *redis.Client, sent *cmdCounter, cfg config, name string, op func(worker int, i int64) error) (capRow, error) {
	phase := func(d time.Duration) (int64, error) {
		var ops atomic.Int64
		var firstErr atomic.Value
		stop := time.Now().Add(d)
		var wg sync.WaitGroup
		for w := range cfg.conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int64(0); time.Now().Before(stop); i++ {
					if err := op(w, i); err != nil {
						firstErr.CompareAndSwap(nil, err)
						return
					}
					ops.Add(1)
				}
			}()
		}
		wg.Wait()
		if err, ok := firstErr.Load().(error); ok {
			return 0, fmt.Errorf("%s: %w", name, err)
		}
		return ops.Load(), nil
	}
	if _, err := phase(cfg.warmup); err != nil {
		return capRow{}, err
	}
	if err := admin.ConfigResetStat(ctx).Err(); err != nil {
		return capRow{}, err
	}
	before, err := commandStats(ctx, admin)
	if err != nil {
		return capRow{}, err
	}
	sentBefore := sent.snapshot()
	n, err := phase(cfg.duration)
	if err != nil {
		return capRow{}, err
	}
	sentAfter := sent.snapshot()
	after, err := commandStats(ctx, admin)
	if err != nil {
		return capRow{}, err
	}
	return perOp(name, n, diffStats(before, after), diffCounts(sentBefore, sentAfter)), nil
}

// tagInvalidation tags capacityTagged entries with one tag, invalidates
// it, and repeats for cfg.duration; only the InvalidateTags calls are
// counted (commandstats read right before and after each).
func tagInvalidation(ctx context.Context, admin *redis.Client, sent *cmdCounter, c *cachehttp.Cache, body string, cfg config) (capRow, error) {
	name := fmt.Sprintf("tag invalidation of %d entries (InvalidateTags)", capacityTagged)
	total := map[string]cmdStat{}
	totalSent := map[string]int64{}
	var n int64
	load := func(context.Context) (string, error) { return body, nil }
	for stop := time.Now().Add(cfg.duration); n == 0 || time.Now().Before(stop); n++ {
		tag := "t" + strconv.FormatInt(n, 10)
		var wg sync.WaitGroup
		var firstErr atomic.Value
		for w := range cfg.conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < capacityTagged; i += cfg.conns {
					if _, err := cachehttp.GetOrLoad(ctx, c, tag+":e"+strconv.Itoa(i), time.Hour, load, cachehttp.WithTags(tag)); err != nil {
						firstErr.CompareAndSwap(nil, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if err, ok := firstErr.Load().(error); ok {
			return capRow{}, err
		}
		before, err := commandStats(ctx, admin)
		if err != nil {
			return capRow{}, err
		}
		sentBefore := sent.snapshot()
		removed, err := c.InvalidateTags(ctx, tag)
		sentAfter := sent.snapshot()
		if err != nil {
			return capRow{}, err
		}
		if removed < capacityTagged {
			return capRow{}, fmt.Errorf("%s: removed %d entries, want %d", name, removed, capacityTagged)
		}
		after, err := commandStats(ctx, admin)
		if err != nil {
			return capRow{}, err
		}
		for k, v := range diffStats(before, after) {
			t := total[k]
			t.calls += v.calls
			t.usec += v.usec
			total[k] = t
		}
		for k, v := range diffCounts(sentBefore, sentAfter) {
			totalSent[k] += v
		}
	}
	return perOp(name, n, total, totalSent), nil
}

// memoryPer writes n entries with put and returns the used_memory growth
// per entry.
func memoryPer(ctx context.Context, admin *redis.Client, n int, put func(i int) error) (float64, error) {
	before, err := usedMemory(ctx, admin)
	if err != nil {
		return 0, err
	}
	for i := range n {
		if err := put(i); err != nil {
			return 0, err
		}
	}
	after, err := usedMemory(ctx, admin)
	if err != nil {
		return 0, err
	}
	return float64(after-before) / float64(n), nil
}

func usedMemory(ctx context.Context, admin *redis.Client) (int64, error) {
	info, err := admin.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(infoField(info, "used_memory"), 10, 64)
}

func infoField(info, field string) string {
	for l := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), field+":"); ok {
			return v
		}
	}
	return "?"
}

// commandStats parses INFO commandstats, leaving out the commands this
// program sends to measure (INFO, CONFIG).
func commandStats(ctx context.Context, admin *redis.Client) (map[string]cmdStat, error) {
	info, err := admin.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, err
	}
	out := map[string]cmdStat{}
	for l := range strings.SplitSeq(info, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(l), "cmdstat_")
		if !ok {
			continue
		}
		cmd, fields, ok := strings.Cut(rest, ":")
		if !ok || cmd == "info" || strings.HasPrefix(cmd, "config") {
			continue
		}
		var s cmdStat
		for f := range strings.SplitSeq(fields, ",") {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "calls":
				s.calls, _ = strconv.ParseInt(v, 10, 64)
			case "usec":
				s.usec, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		out[cmd] = s
	}
	return out, nil
}

func diffStats(before, after map[string]cmdStat) map[string]cmdStat {
	out := map[string]cmdStat{}
	for k, a := range after {
		b := before[k]
		if d := (cmdStat{a.calls - b.calls, a.usec - b.usec}); d.calls > 0 {
			out[k] = d
		}
	}
	return out
}

// cmdCounter is a go-redis hook that counts the commands a client sends,
// by name, so that commands run inside scripts (which INFO commandstats
// also lists, and whose time the script's own entry already includes) are
// not counted twice.
type cmdCounter struct {
	mu sync.Mutex
	n  map[string]int64
}

func (c *cmdCounter) add(cmds ...redis.Cmder) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int64{}
	}
	for _, cmd := range cmds {
		c.n[strings.ToLower(cmd.Name())]++
	}
}

func (c *cmdCounter) snapshot() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

// DialHook passes dials through.
func (c *cmdCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook counts one command.
func (c *cmdCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.add(cmd)
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook counts every command of a pipeline or transaction.
func (c *cmdCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.add(cmds...)
		return next(ctx, cmds)
	}
}

func diffCounts(before, after map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, a := range after {
		if d := a - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// perOp turns one measurement into per-operation figures. Commands are
// those the client sent (top level); each is charged Redis's mean
// usec_per_call for its name, so a script's EVALSHA carries the time of
// the commands it runs and they are not charged again.
func perOp(name string, ops int64, st map[string]cmdStat, sent map[string]int64) capRow {
	r := capRow{name: name, ops: ops}
	if ops == 0 {
		return r
	}
	type kv struct {
		k string
		n int64
	}
	var list []kv
	var calls int64
	var usec float64
	for k, n := range sent {
		if k == "multi" || k == "exec" || k == "ping" || k == "hello" || k == "client" {
			continue
		}
		list = append(list, kv{k, n})
		calls += n
		if s := st[k]; s.calls > 0 {
			usec += float64(n) * float64(s.usec) / float64(s.calls)
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].n > list[j].n || list[i].n == list[j].n && list[i].k < list[j].k })
	var parts []string
	for _, e := range list {
		if per := float64(e.n) / float64(ops); per >= 0.01 {
			parts = append(parts, fmt.Sprintf("%s ×%.2f", strings.ToUpper(e.k), per))
		}
	}
	var inner []string
	for k, s := range st {
		if script := s.calls - sent[k]; script > 0 && float64(script)/float64(ops) >= 0.01 {
			inner = append(inner, fmt.Sprintf("%s ×%.2f", strings.ToUpper(strings.ReplaceAll(k, "|", " ")), float64(script)/float64(ops)))
		}
	}
	sort.Strings(inner)
	r.cmds = float64(calls) / float64(ops)
	r.usec = usec / float64(ops)
	r.commands = strings.Join(parts, ", ")
	if len(inner) > 0 {
		r.commands += "; in scripts: " + strings.Join(inner, ", ")
	}
	return r
}
