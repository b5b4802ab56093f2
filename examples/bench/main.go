// Command bench drives every contender (bare handler, raw go-redis
// handlers, peer libraries, and redishttp's middleware) as an HTTP server
// on loopback with its own keep-alive load generator, in alternating
// rounds, and prints one markdown table: req/s (median of rounds), ratio to
// the bare handler and to the same-work raw-Redis handler, Redis round
// trips per request (counted by a go-redis hook on each contender's own
// client), and p50/p99 latency.
//
//	go -C examples/bench run . -rounds 3 -duration 3s
//
// It is a nested module so that the peer libraries never enter the
// toolkit's go.mod.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

type config struct {
	redisAddr string
	conns     int
	duration  time.Duration
	warmup    time.Duration
	rounds    int
	only      *regexp.Regexp
	goals     bool
	// privateRedis: Redis serves only this run, so its CPU time per
	// request is read and shown.
	privateRedis bool
	bodySize     int
	show         bool
}

func main() {
	var (
		cfg     config
		only    string
		loadURL string
		list    bool
		private string
		profile string
	)
	flag.StringVar(&cfg.redisAddr, "redis", "127.0.0.1:6379", "Redis address (loopback)")
	flag.IntVar(&cfg.conns, "conns", 50, "keep-alive connections of the load generator")
	flag.DurationVar(&cfg.duration, "duration", 3*time.Second, "measured time per contender per round")
	flag.DurationVar(&cfg.warmup, "warmup", 500*time.Millisecond, "unmeasured warm-up before each measurement")
	flag.IntVar(&cfg.rounds, "rounds", 3, "rounds; each round runs every contender once, in order")
	flag.StringVar(&only, "only", "", "regexp selecting contenders by name (baselines are kept for the ratios)")
	flag.BoolVar(&cfg.goals, "goals", false, "run only the contenders of the head-to-head comparisons, each pair side by side")
	flag.IntVar(&cfg.bodySize, "body", 1024, "response body size in bytes")
	flag.BoolVar(&list, "list", false, "list contenders and exit")
	flag.BoolVar(&cfg.show, "show", false, "print each contender's checked response headers to stderr")
	flag.StringVar(&private, "private-redis", "", "start this redis-server binary on a free loopback port and use it instead of -redis")
	flag.StringVar(&profile, "cpuprofile", "", "write a CPU profile of the contenders' servers (this process, not the load generator or Redis) to this file")
	flag.StringVar(&loadURL, "loadgen", "", "internal: run as the load-generator child against this URL")
	flag.Parse()
	maybeRunCapacity(cfg, private)

	if loadURL != "" {
		if err := runLoadgenChild(os.Stdout, loadURL, cfg.conns, cfg.warmup, cfg.duration); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(1)
		}
		return
	}
	if list {
		for _, c := range sortedContenders() {
			fmt.Printf("%-40s group=%-8s baseline=%s\n", c.name, c.group, c.baseline)
		}
		return
	}
	var err error
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: -cpuprofile:", err)
			os.Exit(2)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "bench: -cpuprofile:", err)
			os.Exit(2)
		}
		defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
	}
	if only != "" {
		if cfg.only, err = regexp.Compile(only); err != nil {
			fmt.Fprintln(os.Stderr, "bench: -only:", err)
			os.Exit(2)
		}
	}
	if cfg.conns < 1 || cfg.rounds < 1 || cfg.duration <= 0 || cfg.bodySize < 1 {
		fmt.Fprintln(os.Stderr, "bench: -conns, -rounds, -duration and -body must be positive")
		os.Exit(2)
	}
	if private != "" {
		addr, stop, err := startPrivateRedis(private)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		cfg.redisAddr = addr
		cfg.privateRedis = true
		err = run(cfg, os.Stdout)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// running is one contender started on loopback.
type running struct {
	c       contender
	url     string
	srv     *http.Server
	client  *redis.Client
	counter *rtCounter
	cleanup func()
	results []loadResult
	samples []sample
	// redisCPU: the samples hold Redis's CPU time (a private Redis).
	redisCPU bool
}

func selectContenders(all []contender, only *regexp.Regexp) []contender {
	if only == nil {
		return all
	}
	keep := map[string]bool{"bare": true}
	for _, c := range all {
		if only.MatchString(c.name) {
			keep[c.name] = true
			if c.baseline != "" {
				keep[c.baseline] = true
			}
			keep[ceilingOf(c)] = true
		}
	}
	var out []contender
	for _, c := range all {
		if keep[c.name] {
			out = append(out, c)
		}
	}
	return out
}

func run(cfg config, out io.Writer) error {
	ctx := context.Background()
	probe := redis.NewClient(&redis.Options{Addr: cfg.redisAddr})
	defer probe.Close()
	if err := probe.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis at %s: %w", cfg.redisAddr, err)
	}
	redisVersion := "?"
	if info, err := probe.Info(ctx, "server").Result(); err == nil {
		for _, l := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "redis_version:"); ok {
				redisVersion = v
			}
		}
	}

	runID := make([]byte, 4)
	_, _ = rand.Read(runID)
	body := make([]byte, cfg.bodySize)
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}

	var rs []*running
	defer func() {
		for _, r := range rs {
			shutdown(r)
		}
	}()
	selected := selectContenders(sortedContenders(), cfg.only)
	if cfg.goals {
		selected = goalContenders(sortedContenders())
	}
	for _, c := range selected {
		r, err := start(ctx, cfg, c, env{prefix: "bench:" + hex.EncodeToString(runID) + ":" + keySafe(c.name) + ":", body: body})
		if err != nil {
			fmt.Fprintf(os.Stderr, "skip %-28s %v\n", c.name, err)
			continue
		}
		rs = append(rs, r)
	}
	if len(rs) == 0 {
		return fmt.Errorf("no contender started")
	}

	for round := 1; round <= cfg.rounds; round++ {
		for _, r := range rs {
			snap := func() sample {
				s := sample{count: r.counter.load(), cpu: ownCPU()}
				if cfg.privateRedis {
					s.redisCPU = redisCPU(ctx, probe)
				}
				return s
			}
			res, got, err := runLoad(r.url, cfg.conns, cfg.warmup, cfg.duration, snap)
			if err != nil {
				return fmt.Errorf("%s round %d: %w", r.c.name, round, err)
			}
			r.results = append(r.results, res)
			r.samples = append(r.samples, got)
			r.redisCPU = cfg.privateRedis
			rt := got.count
			msg := ""
			if f := res.Failed(); f > 0 {
				msg = fmt.Sprintf("  FAILED %d (%v) first: %s", f, res.Non2xx, res.FirstErr)
			}
			fmt.Fprintf(os.Stderr, "round %d/%d %-40s %9.0f req/s  cmds/req %.3f  rt/req %.3f  p50 %v p99 %v%s\n",
				round, cfg.rounds, r.c.name, res.RPS(), perReq(rt.cmds, res), perReq(rt.rt, res), res.P50, res.P99, msg)
		}
	}

	fmt.Fprintf(out, "Go %s, GOMAXPROCS %d (%d CPUs), %s/%s; Redis %s at %s; %d connections, %d-byte body, %d rounds × %v (+%v warm-up) per contender, rounds alternate over all contenders.\n\n",
		runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH,
		redisVersion, cfg.redisAddr, cfg.conns, cfg.bodySize, cfg.rounds, cfg.duration, cfg.warmup)
	printTable(out, rs)
	printPairs(out, rs)
	return nil
}

// redisCPU is the CPU time Redis has used (used_cpu_user + used_cpu_sys of
// INFO cpu), in seconds; 0 if it cannot be read.
func redisCPU(ctx context.Context, c *redis.Client) float64 {
	info, err := c.Info(ctx, "cpu").Result()
	if err != nil {
		return 0
	}
	var sum float64
	for _, l := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, _ := strconv.ParseFloat(v, 64)
			sum += f
		}
	}
	return sum
}

func perReq(rt int64, res loadResult) float64 {
	n := res.OK + res.Failed()
	if n == 0 {
		return 0
	}
	return float64(rt) / float64(n)
}

func start(ctx context.Context, cfg config, c contender, e env) (*running, error) {
	client, counter := newCountedClient(cfg.redisAddr)
	e.client = client
	h, cleanup, err := c.setup(ctx, e)
	if err != nil {
		_ = client.Close()
		return nil, err
	}
	if cleanup == nil {
		cleanup = noop
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cleanup()
		_ = client.Close()
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	path := c.path
	if path == "" {
		path = "/"
	}
	r := &running{c: c, url: "http://" + ln.Addr().String() + path, srv: srv, client: client, counter: counter, cleanup: cleanup}
	if err := verify(r, e, cfg.show); err != nil {
		shutdown(r)
		return nil, err
	}
	return r, nil
}

// verify makes one request and checks that the contender answers 2xx with
// the body it is supposed to serve.
func verify(r *running, e env, show bool) error {
	get := func() (*http.Response, []byte, error) {
		req, _ := http.NewRequest(http.MethodGet, r.url, nil)
		req.Header.Set("X-User-ID", "bench")
		req.Header.Set("X-Bench-Conn", "0")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, nil, fmt.Errorf("check request: %w", err)
		}
		b, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("check body: %w", err)
		}
		return resp, b, nil
	}
	if r.c.warm {
		if _, _, err := get(); err != nil {
			return err
		}
	}
	resp, b, err := get()
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("check: HTTP %d: %.200s", resp.StatusCode, b)
	}
	check := r.c.check
	if check == nil {
		check = sameBody
	}
	if err := check(e, resp.Header, b); err != nil {
		return fmt.Errorf("check: %w", err)
	}
	if show {
		fmt.Fprintf(os.Stderr, "%s: HTTP %d, %d-byte body\n", r.c.name, resp.StatusCode, len(b))
		keys := slices.Sorted(maps.Keys(resp.Header))
		for _, k := range keys {
			fmt.Fprintf(os.Stderr, "    %s: %s\n", k, strings.Join(resp.Header[k], ", "))
		}
	}
	return nil
}

// shutdown stops a contender. Close, not Shutdown: the load is over, and
// Shutdown would wait up to 5s for connections a client dialled but never
// used.
func shutdown(r *running) {
	_ = r.srv.Close()
	r.cleanup()
	_ = r.client.Close()
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// keySafe turns a contender name into a Redis key segment without spaces,
// braces or glob characters.
func keySafe(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}
