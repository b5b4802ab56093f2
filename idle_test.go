package redishttp_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aura-platform/redishttp"
	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/aura-platform/redishttp/statshttp"
	"github.com/redis/go-redis/v9"
)

// idleWindow is how long an idle Kit is watched, and idleBudget the most
// commands it may send in that time: one per five seconds on average.
const (
	idleWindow = 20 * time.Second
	idleBudget = int(idleWindow / (5 * time.Second))
)

// countHook counts every command a client sends, pipelines' and
// transactions' contents included, while on.
type countHook struct {
	mu    sync.Mutex
	on    bool
	names []string
}

func (h *countHook) start() { h.mu.Lock(); h.on, h.names = true, nil; h.mu.Unlock() }

func (h *countHook) stop() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.on = false
	return h.names
}

func (h *countHook) add(cmds ...redis.Cmder) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.on {
		for _, c := range cmds {
			h.names = append(h.names, c.Name())
		}
	}
}

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.add(cmd)
		return next(ctx, cmd)
	}
}

func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.add(cmds...)
		return next(ctx, cmds)
	}
}

// warmKit builds a cache, a limiter, a locker and the stats recorder from
// one Kit over client, sends a little traffic through them and waits until
// that traffic has been flushed, so that what follows is idle time.
func warmKit(t *testing.T, client redis.UniversalClient, prefix string, autoPipeline bool) *redishttp.Kit {
	t.Helper()
	kit, err := redishttp.New(client, redishttp.Options{Prefix: prefix, Stats: statshttp.Options{Token: token},
		AutoPipeline: autoPipeline})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kit.Close() })
	h := stack(t, kit)
	do(t, h, "GET", "/api/products")
	do(t, h, "GET", "/api/products")
	do(t, h, "POST", "/api/products")
	if got := kit.Monitor().State().String(); got != "redis" {
		t.Fatalf("monitor state %q after warm-up", got)
	}
	time.Sleep(2 * time.Second) // the flush of the warm-up's counts
	return kit
}

// TestIdleKitCommands: a Kit with every part built and nothing to do sends
// at most one command per five seconds on average, counted by a client hook
// (pipelines' contents included).
func TestIdleKitCommands(t *testing.T) {
	if testing.Short() && !redistest.InCI() {
		t.Skip("watches an idle Kit for 20 s; -short skips it, except under CI=true")
	}
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		t.Parallel()
		hook := &countHook{}
		tg.Client.AddHook(hook)
		// Auto-pipelined here, plain in TestIdleKitMonitor: an idle
		// auto-pipeliner sends nothing either.
		kit := warmKit(t, tg.Client, tg.Prefix, true)
		hook.start()
		time.Sleep(idleWindow)
		names := hook.stop()
		t.Logf("%s: %d commands in %v idle: %v", tg.Name, len(names), idleWindow, tally(names))
		if len(names) > idleBudget {
			t.Errorf("%d commands in %v idle, want at most %d: %v", len(names), idleWindow, idleBudget, tally(names))
		}
		if got := kit.Monitor().State().String(); got != "redis" {
			t.Errorf("monitor state %q after idling", got)
		}
	})
}

// TestIdleKitMonitor checks the same on the server's side: a second
// connection runs MONITOR and counts the lines sent from the Kit's
// connections (found by client name). It needs a real server (REDIS_URL);
// on CI it must run (and fails without REDIS_URL).
func TestIdleKitMonitor(t *testing.T) {
	if testing.Short() && !redistest.InCI() {
		t.Skip("watches an idle Kit for 20 s; -short skips it, except under CI=true")
	}
	// The shared server of REDIS_URL, else a private redis-server (skipped
	// where none is installed, except under CI=true).
	url := os.Getenv(redistest.EnvRedisURL)
	if url == "" {
		url = "redis://" + redistest.StartServer(t).Addr + "/0"
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "idle-" + hex.EncodeToString(b[:])
	kopts := *opts
	kopts.ClientName = name
	kopts.ContextTimeoutEnabled = true
	client := redis.NewClient(&kopts)
	prefix := "rt:TestIdleKitMonitor:" + name + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if keys := redistest.Keys(t, client, prefix+"*"); len(keys) > 0 {
			client.Unlink(ctx, keys...)
		}
		_ = client.Close()
	})
	admin := redis.NewClient(opts)
	defer admin.Close()

	// A raw connection runs MONITOR; lines are collected until it closes.
	conn, err := net.DialTimeout("tcp", opts.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rd := bufio.NewReader(conn)
	var auth []string
	if opts.Password != "" {
		auth = []string{"AUTH", opts.Password}
		if opts.Username != "" {
			auth = []string{"AUTH", opts.Username, opts.Password}
		}
	}
	for _, cmd := range [][]string{auth, {"SELECT", strconv.Itoa(opts.DB)}, {"MONITOR"}} {
		if cmd == nil {
			continue
		}
		if _, err := conn.Write([]byte(resp(cmd...))); err != nil {
			t.Fatal(err)
		}
		line, err := rd.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "+OK") {
			t.Fatalf("%v: %q, %v", cmd[0], line, err)
		}
	}
	var mu sync.Mutex
	var lines []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				return
			}
			mu.Lock()
			lines = append(lines, strings.TrimSpace(line))
			mu.Unlock()
		}
	}()

	warmKit(t, client, prefix, false)
	addrs := clientAddrs(t, admin, name)
	mu.Lock()
	from := len(lines)
	mu.Unlock()
	time.Sleep(idleWindow)
	for a := range clientAddrs(t, admin, name) {
		addrs[a] = true
	}
	mu.Lock()
	window := append([]string(nil), lines[from:]...)
	mu.Unlock()
	_ = conn.Close()
	<-done
	var mine []string
	for _, l := range window {
		// 1700000000.123456 [0 127.0.0.1:54321] "PING"
		i, j := strings.IndexByte(l, '['), strings.IndexByte(l, ']')
		if i < 0 || j < i {
			continue
		}
		f := strings.Fields(l[i+1 : j])
		if len(f) == 2 && addrs[f[1]] {
			cmd, _, _ := strings.Cut(l[j+2:], " ")
			mine = append(mine, strings.ToLower(strings.Trim(cmd, `"`)))
		}
	}
	t.Logf("MONITOR: %d commands from the Kit's %d connections in %v idle: %v", len(mine), len(addrs), idleWindow, tally(mine))
	if len(addrs) == 0 {
		t.Fatal("no connection named " + name)
	}
	if len(mine) > idleBudget {
		t.Errorf("MONITOR saw %d commands in %v idle, want at most %d: %v", len(mine), idleWindow, idleBudget, tally(mine))
	}
}

// clientAddrs returns the addresses of the server's connections named name.
func clientAddrs(t *testing.T, admin *redis.Client, name string) map[string]bool {
	t.Helper()
	list, err := admin.ClientList(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, l := range strings.Split(list, "\n") {
		var addr string
		named := false
		for _, f := range strings.Fields(l) {
			if v, ok := strings.CutPrefix(f, "addr="); ok {
				addr = v
			}
			if f == "name="+name {
				named = true
			}
		}
		if named && addr != "" {
			out[addr] = true
		}
	}
	return out
}

func resp(args ...string) string {
	var sb strings.Builder
	sb.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		sb.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
	}
	return sb.String()
}

// tally counts names: "ping×4 evalsha×1".
func tally(names []string) string {
	n := map[string]int{}
	var order []string
	for _, s := range names {
		if n[s] == 0 {
			order = append(order, s)
		}
		n[s]++
	}
	var sb strings.Builder
	for _, s := range order {
		sb.WriteString(s + "×" + strconv.Itoa(n[s]) + " ")
	}
	return strings.TrimSpace(sb.String())
}
