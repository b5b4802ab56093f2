package statshttp_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/observe"
	"github.com/aura-platform/redishttp/internal/redistest"
	mw "github.com/aura-platform/redishttp/middleware"
	"github.com/aura-platform/redishttp/statshttp"
)

// findChromium returns a headless-capable Chromium: $CHROMIUM_PATH, or
// chromium / chromium-browser / google-chrome on PATH. Without one the test
// is skipped, except under CI=true, where CI installs it.
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM_PATH"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if redistest.InCI() {
		t.Fatal("no chromium on PATH and CHROMIUM_PATH unset, but CI=true: install chromium")
	}
	t.Skip("no chromium on PATH (set CHROMIUM_PATH): skipping the browser test; under CI=true this fails instead")
	return ""
}

// dumpDOM loads pageURL in headless Chromium, lets it run for budget of
// virtual time (timers and polling included) and returns the rendered DOM.
func dumpDOM(t *testing.T, chromium, pageURL string, budget time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--no-first-run", "--disable-dev-shm-usage", "--user-data-dir="+t.TempDir(),
		"--virtual-time-budget="+strconv.FormatInt(budget.Milliseconds(), 10),
		"--dump-dom", pageURL)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\nstderr: %s", err, lastBytes(stderr.Bytes(), 2000))
	}
	return stdout.String()
}

func lastBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// The dashboard renders in a real headless browser with the live figures
// of two instances sharing Redis, and keeps polling: a pattern that gains
// a hit at every poll shows the count of the last poll.
func TestDashboardInHeadlessChromium(t *testing.T) {
	chromium := findChromium(t)
	tg := redistest.New(t)
	opts := statshttp.Options{Prefix: tg.Prefix, Patterns: []string{"Product Pages", "Polls"},
		RefreshInterval: 500 * time.Millisecond, StatsPath: "/api/cache/stats"}
	rec := newRecorder(t, tg.NewClient(t), withID(opts, "web-1"))
	peer := newRecorder(t, tg.NewClient(t), withID(opts, "web-2"))
	send(rec, traffic{"Product Pages": {mw.CacheHit: 150, mw.CacheMiss: 10},
		"login": {mw.RateAllowed: 30, mw.RateDenied: 6}, "checkout": {mw.LockAcquired: 4, mw.LockContended: 3}}, 4)
	send(peer, traffic{"Product Pages": {mw.CacheHit: 80, mw.CacheMiss: 10}}, 4)
	rec.Observe(mw.Event{Kind: mw.BackendChange, Route: "redis"})
	for _, r := range []*statshttp.Recorder{rec, peer} {
		if err := r.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}

	var polls atomic.Int64
	stats := rec.StatsHandler()
	mux := http.NewServeMux()
	mux.Handle("/api/cache/stats", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer "+testToken {
			polls.Add(1)
			observe.Emit(rec, mw.CacheHit, "Polls") // a figure that changes at every poll
		}
		stats.ServeHTTP(w, r)
	}))
	mux.Handle("/dashboard", rec.DashboardHandler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	dom := dumpDOM(t, chromium, srv.URL+"/dashboard?token="+url.QueryEscape(testToken), 5*time.Second)
	n := polls.Load()
	if n < 2 {
		t.Fatalf("the page polled %d times in 5s of virtual time at a 500ms refresh", n)
	}
	for _, want := range []string{
		`data-source="redis"`,
		`id="perf-hits">` + strconv.FormatInt(230+n, 10) + `<`,
		`id="perf-misses">20<`,
		`id="instance-count">2<`,
		`id="backend-state">redis<`,
		`id="rl-denied">6<`,
		`id="rl-denyrate">16.7%<`,
		`id="lk-contended">3<`,
		`data-pattern="Product Pages"`,
		`<span data-field="hitRate">92%</span>`,
		`<td data-field="hits">230</td>`,
		`<td data-field="hits">` + strconv.FormatInt(n, 10) + `</td>`,
		`data-instance="web-2"`,
		`class="hits"`, // the chart's hits line
	} {
		if !bytes.Contains([]byte(dom), []byte(want)) {
			t.Errorf("rendered DOM lacks %s", want)
		}
	}
	if m := regexp.MustCompile(`id="status"[^>]*>([^<]+)<`).FindStringSubmatch(dom); m != nil {
		t.Errorf("page shows an error: %s", m[1])
	}
	if t.Failed() {
		t.Logf("polls %d; DOM:\n%s", n, dom)
	}

	// Without the token the page itself is refused.
	if res, err := http.Get(srv.URL + "/dashboard"); err != nil || res.StatusCode != http.StatusUnauthorized {
		t.Errorf("dashboard without token: %v %v", res.StatusCode, err)
	} else {
		res.Body.Close()
	}
}
