package routers_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/aura-platform/redishttp"
	"github.com/aura-platform/redishttp/cachehttp"
	"github.com/aura-platform/redishttp/lockhttp"
	rmw "github.com/aura-platform/redishttp/middleware"
	"github.com/aura-platform/redishttp/ratelimithttp"
	"github.com/aura-platform/redishttp/statshttp"
	"github.com/redis/go-redis/v9"
)

// newClient returns the Redis the tests run against: REDIS_URL (parsed
// with redis.ParseURL), REDIS_CLUSTER_ADDRS (comma-separated cluster
// nodes), or else an in-process miniredis. The client is closed when the
// test ends; keys written under prefix on a real Redis are deleted then.
func newClient(t *testing.T, prefix string) redis.UniversalClient {
	t.Helper()
	var c redis.UniversalClient
	switch {
	case os.Getenv("REDIS_URL") != "":
		opt, err := redis.ParseURL(os.Getenv("REDIS_URL"))
		if err != nil {
			t.Fatalf("REDIS_URL: %v", err)
		}
		c = redis.NewClient(opt)
	case os.Getenv("REDIS_CLUSTER_ADDRS") != "":
		c = redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(os.Getenv("REDIS_CLUSTER_ADDRS"), ",")})
	default:
		mr := miniredis.RunT(t)
		c = redis.NewClient(&redis.Options{Addr: mr.Addr()})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		del := func(ctx context.Context, n *redis.Client) error {
			it := n.Scan(ctx, 0, prefix+"*", 500).Iterator()
			for it.Next(ctx) {
				n.Unlink(ctx, it.Val())
			}
			return it.Err()
		}
		var err error
		if cc, ok := c.(*redis.ClusterClient); ok {
			err = cc.ForEachMaster(ctx, del)
		} else {
			err = del(ctx, c.(*redis.Client))
		}
		if err != nil {
			t.Logf("cleanup of %s*: %v", prefix, err)
		}
		_ = c.Close()
	})
	return c
}

// app is what every router test mounts: one Kit and its parts, and the
// application's handlers, with counters of how often each ran.
type app struct {
	kit     *redishttp.Kit
	items   *cachehttp.RouteCache // shared route: GET /api/items/{id}
	me      *cachehttp.RouteCache // per-user route: GET /api/me
	limits  *ratelimithttp.Limiter
	locks   *lockhttp.Locker
	session func(http.Handler) http.Handler

	itemRuns, meRuns, searchRuns, createRuns, updateRuns atomic.Int64
	// hold makes PUT /api/items/1 block until it is closed; held is
	// closed when that handler has started (it holds the lock then).
	hold, held chan struct{}
	heldOnce   sync.Once
	// patterns records r.Pattern as the PUT handler saw it, per path.
	patterns sync.Map
}

const searchLimit = 3

// newApp builds the Kit and its parts, as an application would at startup.
func newApp(t *testing.T, name string) *app {
	t.Helper()
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	prefix := "routers-" + name + "-" + hex.EncodeToString(rnd[:]) + ":"
	kit, err := redishttp.New(newClient(t, prefix), redishttp.Options{
		Prefix: prefix,
		Stats:  statshttp.Options{Auth: requireAdmin},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := kit.Close(); err != nil {
			t.Errorf("kit.Close: %v", err)
		}
	})
	a := &app{kit: kit, session: rmw.TrustUserHeader("X-User"), hold: make(chan struct{}), held: make(chan struct{})}
	t.Cleanup(func() { a.release() })

	// Two policies in one limiter (one round trip): every API request, and
	// a tight one for the search route only.
	api, err1 := ratelimithttp.NewPolicy("api", "500-M")
	search, err2 := ratelimithttp.NewPolicy("search", fmt.Sprintf("%d-M", searchLimit))
	search.Match = func(r *http.Request) bool { return r.URL.Path == "/api/search" }
	a.limits, err = kit.Limiter(ratelimithttp.Options{Policies: []ratelimithttp.Policy{api, search}, Route: "api"})
	must(t, err1, err2, err)
	// The default lock key, ByPath: the same under every router.
	a.locks, err = kit.Locker(lockhttp.Options{Route: "writes", IdempotencyRetention: time.Minute})
	must(t, err)
	cache, err := kit.Cache(cachehttp.Options{})
	must(t, err)
	a.items, err1 = cache.NewRoute(cachehttp.Route{Name: "items", TTL: time.Minute})
	a.me, err2 = cache.NewRoute(cachehttp.Route{Name: "me", TTL: time.Minute, PerUser: true})
	must(t, err1, err2)
	return a
}

func must(t *testing.T, errs ...error) {
	t.Helper()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// requireAdmin stands for the application's own admin check.
func requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rmw.UserFromContext(r.Context()) != "admin" {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (a *app) release() {
	select {
	case <-a.hold:
	default:
		close(a.hold)
	}
}

// The application's logic, shared by the net/http handlers below and by
// the gin and echo handlers of their tests.

func (a *app) item(id string) string {
	return fmt.Sprintf("item %s, fill %d", id, a.itemRuns.Add(1))
}

func (a *app) greet(user string) string {
	a.meRuns.Add(1)
	if user == "" {
		user = "anonymous"
	}
	return "hello " + user
}

func (a *app) search() string { return fmt.Sprintf("results %d", a.searchRuns.Add(1)) }

// create is the slow create the lock protects: it must run once for 50
// concurrent identical requests.
func (a *app) create(ctx context.Context) (string, bool) {
	a.createRuns.Add(1)
	_, fenced := lockhttp.Fence(ctx)
	time.Sleep(100 * time.Millisecond)
	return `{"id":"order-1"}`, fenced
}

// update blocks on PUT /api/items/1 until release, holding its lock.
func (a *app) update(id, pattern string) {
	a.updateRuns.Add(1)
	a.patterns.Store(id, pattern)
	if id == "1" {
		a.heldOnce.Do(func() { close(a.held) })
		<-a.hold
	}
}

// net/http handlers, for ServeMux, chi and gorilla/mux. The item id is the
// last path segment whatever the router (r.PathValue, chi.URLParam and
// mux.Vars each read it the router's way).

func (a *app) getItem(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, a.item(path.Base(r.URL.Path)))
}

func (a *app) getMe(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, a.greet(rmw.UserFromContext(r.Context())))
}

func (a *app) getSearch(w http.ResponseWriter, r *http.Request) { io.WriteString(w, a.search()) }

func (a *app) postOrder(w http.ResponseWriter, r *http.Request) {
	body, fenced := a.create(r.Context())
	if !fenced {
		http.Error(w, "no fencing token", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, body)
}

func (a *app) putItem(w http.ResponseWriter, r *http.Request) {
	a.update(path.Base(r.URL.Path), r.Pattern)
	w.WriteHeader(http.StatusNoContent)
}

func (a *app) deleteItem(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }

// Requests.

type reply struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, method, url, user string, hdr ...string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Error(err)
		return reply{status: -1}
	}
	if user != "" {
		req.Header.Set("X-User", user)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err) // not Fatal: do also runs on other goroutines
		return reply{status: -1}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Error(err)
	}
	return reply{res.StatusCode, res.Header, string(b)}
}

// testMounted drives the whole mounted application at base the way
// clients would, asserting what every router must give.
func testMounted(t *testing.T, a *app, base string) {
	t.Run("SharedRouteMissThenHit", func(t *testing.T) {
		r1 := do(t, "GET", base+"/api/items/7", "")
		r2 := do(t, "GET", base+"/api/items/7", "")
		if r1.status != 200 || r1.header.Get("X-Cache") != "MISS" || r1.body != "item 7, fill 1" {
			t.Fatalf("first: %d %q %q", r1.status, r1.header.Get("X-Cache"), r1.body)
		}
		if r2.status != 200 || r2.header.Get("X-Cache") != "HIT" || r2.body != r1.body {
			t.Fatalf("second: %d %q %q", r2.status, r2.header.Get("X-Cache"), r2.body)
		}
		if n := a.itemRuns.Load(); n != 1 {
			t.Fatalf("handler ran %d times, want 1", n)
		}
		// Another id is another entry.
		if r := do(t, "GET", base+"/api/items/8", ""); r.header.Get("X-Cache") != "MISS" || r.body != "item 8, fill 2" {
			t.Fatalf("other id: %q %q", r.header.Get("X-Cache"), r.body)
		}
	})

	t.Run("PerUserRouteNeverCrossesUsers", func(t *testing.T) {
		want := map[string]string{"alice": "hello alice", "bob": "hello bob"}
		for round, wantCache := range []string{"MISS", "HIT", "HIT"} {
			for _, u := range []string{"alice", "bob"} {
				r := do(t, "GET", base+"/api/me", u)
				if r.status != 200 || r.body != want[u] || r.header.Get("X-Cache") != wantCache {
					t.Fatalf("round %d, %s: %d %q %q, want %q %q", round, u, r.status, r.header.Get("X-Cache"), r.body, wantCache, want[u])
				}
			}
		}
		r := do(t, "GET", base+"/api/me", "")
		if r.body != "hello anonymous" || r.header.Get("X-Cache") != "BYPASS" {
			t.Fatalf("anonymous: %q %q", r.header.Get("X-Cache"), r.body)
		}
		if n := a.meRuns.Load(); n != 3 {
			t.Fatalf("handler ran %d times, want 3 (alice, bob, anonymous)", n)
		}
	})

	t.Run("RateLimit", func(t *testing.T) {
		for i := 1; i <= searchLimit; i++ {
			r := do(t, "GET", base+"/api/search", "searcher")
			if r.status != 200 {
				t.Fatalf("request %d: %d %s", i, r.status, r.body)
			}
			if got, want := r.header.Get("X-RateLimit-Remaining"), fmt.Sprint(searchLimit-i); got != want {
				t.Fatalf("request %d: X-RateLimit-Remaining %q, want %q", i, got, want)
			}
			if r.header.Get("X-RateLimit-Limit") != fmt.Sprint(searchLimit) || !strings.HasPrefix(r.header.Get("RateLimit-Policy"), `"search"`) {
				t.Fatalf("request %d: headers %v", i, r.header)
			}
		}
		r := do(t, "GET", base+"/api/search", "searcher")
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" ||
			r.header.Get("X-RateLimit-Remaining") != "0" || !strings.Contains(r.header.Get("Content-Type"), "problem+json") {
			t.Fatalf("over the limit: %d %v %s", r.status, r.header, r.body)
		}
		if n := a.searchRuns.Load(); n != searchLimit {
			t.Fatalf("handler ran %d times, want %d", n, searchLimit)
		}
		// Other routes carry the api policy's headers; another user is not limited.
		if r := do(t, "GET", base+"/api/items/7", ""); r.header.Get("X-RateLimit-Limit") != "500" {
			t.Fatalf("items: X-RateLimit-Limit %q", r.header.Get("X-RateLimit-Limit"))
		}
		if r := do(t, "GET", base+"/api/search", "other"); r.status != 200 {
			t.Fatalf("another user: %d", r.status)
		}
	})

	t.Run("ConcurrentCreatesRunOnce", func(t *testing.T) {
		const n = 50
		var wg sync.WaitGroup
		replies := make([]reply, n)
		for i := range n {
			wg.Go(func() {
				replies[i] = do(t, "POST", base+"/api/orders", "alice", "Idempotency-Key", `"order-1"`)
			})
		}
		wg.Wait()
		created, replayed, conflict := 0, 0, 0
		for _, r := range replies {
			switch {
			case r.status == 201 && r.header.Get("Idempotent-Replayed") == "true":
				replayed++
			case r.status == 201:
				created++
			case r.status == 409:
				conflict++
			default:
				t.Errorf("unexpected reply %d %v %s", r.status, r.header, r.body)
			}
			if r.status == 201 && r.body != `{"id":"order-1"}` {
				t.Errorf("201 body %q", r.body)
			}
		}
		if runs := a.createRuns.Load(); runs != 1 || created != 1 {
			t.Fatalf("handler ran %d times, %d created, %d replayed, %d conflicts; want 1 run, 1 created", runs, created, replayed, conflict)
		}
		// Once recorded, a retry is a replay, not a second run.
		deadline := time.Now().Add(5 * time.Second)
		for {
			r := do(t, "POST", base+"/api/orders", "alice", "Idempotency-Key", `"order-1"`)
			if r.status == 201 && r.header.Get("Idempotent-Replayed") == "true" {
				break
			}
			if r.status != 409 || time.Now().After(deadline) {
				t.Fatalf("retry: %d %v", r.status, r.header)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if runs := a.createRuns.Load(); runs != 1 {
			t.Fatalf("handler ran %d times after the retry", runs)
		}
	})

	t.Run("LockKeyIsThePath", func(t *testing.T) {
		done := make(chan reply, 1)
		go func() { done <- do(t, "PUT", base+"/api/items/1", "") }()
		select {
		case <-a.held:
		case <-time.After(5 * time.Second):
			t.Fatal("PUT /api/items/1 never reached its handler")
		}
		// Same path, other method and route: the same lock.
		if r := do(t, "DELETE", base+"/api/items/1", ""); r.status != http.StatusConflict || r.header.Get("Retry-After") == "" {
			t.Fatalf("DELETE /api/items/1 while PUT holds it: %d %v", r.status, r.header)
		}
		// Same route, other path: another lock, whatever pattern the router matched.
		if r := do(t, "PUT", base+"/api/items/2", ""); r.status != http.StatusNoContent {
			t.Fatalf("PUT /api/items/2 while /api/items/1 is held: %d %s", r.status, r.body)
		}
		a.release()
		if r := <-done; r.status != http.StatusNoContent {
			t.Fatalf("PUT /api/items/1: %d %s", r.status, r.body)
		}
		if r := do(t, "DELETE", base+"/api/items/1", ""); r.status != http.StatusNoContent {
			t.Fatalf("DELETE /api/items/1 after release: %d", r.status)
		}
	})

	t.Run("StatsNeedAuth", func(t *testing.T) {
		for _, user := range []string{"", "bob"} {
			if r := do(t, "GET", base+"/api/cache/stats", user); r.status != http.StatusForbidden {
				t.Fatalf("stats as %q: %d", user, r.status)
			}
		}
		r := do(t, "GET", base+"/api/cache/stats", "admin")
		if r.status != 200 {
			t.Fatalf("stats as admin: %d %s", r.status, r.body)
		}
		var doc struct {
			Patterns []struct {
				Name string `json:"name"`
			} `json:"patterns"`
		}
		if err := json.Unmarshal([]byte(r.body), &doc); err != nil {
			t.Fatalf("stats: %v: %s", err, r.body)
		}
		names := map[string]bool{}
		for _, p := range doc.Patterns {
			names[p.Name] = true
		}
		if !names["items"] || !names["me"] {
			t.Fatalf("stats patterns %v, want items and me", names)
		}
	})
}

// pattern returns r.Pattern as the PUT handler saw it for id.
func (a *app) pattern(id string) string {
	v, _ := a.patterns.Load(id)
	s, _ := v.(string)
	return s
}
