package statshttp_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
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

// browser drives a headless Chromium through the DevTools protocol on a
// pipe (--remote-debugging-pipe: commands in on fd 3, replies out on fd 4,
// each message JSON ended by a NUL byte), in real time: the page's timers
// and streams run as they would for a user.
type browser struct {
	t    *testing.T
	in   *os.File
	out  *os.File
	rd   *bufio.Reader
	next int
}

func startBrowser(t *testing.T, chromium string) *browser {
	t.Helper()
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(chromium,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--no-first-run", "--disable-dev-shm-usage", "--user-data-dir="+t.TempDir(),
		"--remote-debugging-pipe", "about:blank")
	cmd.ExtraFiles = []*os.File{cmdR, outW} // fd 3 and fd 4
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmdR.Close()
	outW.Close()
	b := &browser{t: t, in: cmdW, out: outR, rd: bufio.NewReaderSize(outR, 1<<20)}
	t.Cleanup(func() {
		cmdW.Close() // Chromium exits when its pipe closes
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		outR.Close()
		if t.Failed() {
			t.Logf("chromium stderr (end): %s", lastBytes([]byte(stderr.String()), 2000))
		}
	})
	return b
}

// call sends one command (to a page when session is set) and returns its
// result, skipping the events in between.
func (b *browser) call(session, method string, params any) json.RawMessage {
	b.t.Helper()
	b.next++
	msg := map[string]any{"id": b.next, "method": method, "params": params}
	if session != "" {
		msg["sessionId"] = session
	}
	data, err := json.Marshal(msg)
	if err != nil {
		b.t.Fatal(err)
	}
	if _, err := b.in.Write(append(data, 0)); err != nil {
		b.t.Fatalf("%s: %v", method, err)
	}
	_ = b.out.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		raw, err := b.rd.ReadBytes(0)
		if err != nil {
			b.t.Fatalf("%s: reading the reply: %v", method, err)
		}
		var reply struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(raw[:len(raw)-1], &reply); err != nil {
			b.t.Fatalf("%s: %v: %q", method, err, raw)
		}
		if reply.ID != b.next {
			continue
		}
		if reply.Error != nil {
			b.t.Fatalf("%s: %s", method, reply.Error.Message)
		}
		return reply.Result
	}
}

// open loads pageURL in a new tab, closed at the end of the test, and
// returns the tab's session.
func (b *browser) open(t *testing.T, pageURL string) string {
	b.t.Helper()
	var target struct {
		TargetID string `json:"targetId"`
	}
	_ = json.Unmarshal(b.call("", "Target.createTarget", map[string]any{"url": pageURL}), &target)
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	_ = json.Unmarshal(b.call("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}), &attached)
	if attached.SessionID == "" {
		b.t.Fatalf("no session for %s", pageURL)
	}
	t.Cleanup(func() { b.call("", "Target.closeTarget", map[string]any{"targetId": target.TargetID}) })
	return attached.SessionID
}

// eval evaluates a JavaScript expression in the page and returns its value
// as a string.
func (b *browser) eval(session, expr string) string {
	b.t.Helper()
	var res struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		ExceptionDetails any `json:"exceptionDetails"`
	}
	_ = json.Unmarshal(b.call(session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}), &res)
	if res.ExceptionDetails != nil {
		return fmt.Sprintf("exception: %v", res.ExceptionDetails)
	}
	if s, ok := res.Result.Value.(string); ok {
		return s
	}
	return fmt.Sprint(res.Result.Value)
}

// field returns the text of the element with that id.
func (b *browser) field(session, id string) string {
	return b.eval(session, `(function(){var e=document.getElementById(`+strconv.Quote(id)+`);return e?e.textContent:'(none)';})()`)
}

// dom returns the page's rendered HTML.
func (b *browser) dom(session string) string {
	return b.eval(session, `document.documentElement.outerHTML`)
}

func lastBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// statsEndpoint serves rec's JSON report and stream and counts the
// authenticated polls (JSON requests) and streams; stream, when set,
// replaces the stream (a proxy that refuses or buffers it, say).
type statsEndpoint struct {
	polls, streams atomic.Int64
	onPoll         func()
	stream         http.Handler
}

func (e *statsEndpoint) handler(rec *statshttp.Recorder) http.Handler {
	stats := rec.StatsHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authed := r.Header.Get("Authorization") == "Bearer "+testToken
		if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			if authed {
				e.streams.Add(1)
			}
			if e.stream != nil {
				e.stream.ServeHTTP(w, r)
				return
			}
		} else if authed {
			e.polls.Add(1)
			if e.onPoll != nil {
				e.onPoll()
			}
		}
		stats.ServeHTTP(w, r)
	})
}

// waitField waits until the element id of the page reads want.
func waitField(t *testing.T, b *browser, session, id, want string, d time.Duration) {
	t.Helper()
	eventually(t, d, func() string {
		if got := b.field(session, id); got != want {
			return fmt.Sprintf("#%s reads %q, want %q", id, got, want)
		}
		return ""
	})
}

// The dashboard renders in a real headless browser with the live figures
// of two instances sharing Redis, from the report stream: traffic that
// another instance flushes shows up without a single poll, and the stream
// carries the same bearer token as the polls did, never in a URL.
func TestDashboardInHeadlessChromium(t *testing.T) {
	chromium := findChromium(t)
	tg := redistest.New(t)
	opts := statshttp.Options{Prefix: tg.Prefix, Patterns: []string{"Product Pages", "Polls"},
		RefreshInterval: 500 * time.Millisecond, FlushInterval: 100 * time.Millisecond, StatsPath: "/api/cache/stats"}
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

	var ep statsEndpoint
	mux := http.NewServeMux()
	mux.Handle("/api/cache/stats", ep.handler(rec))
	mux.Handle("/dashboard", rec.DashboardHandler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	b := startBrowser(t, chromium)
	page := b.open(t, srv.URL+"/dashboard?token="+url.QueryEscape(testToken))
	waitField(t, b, page, "perf-hits", "230", 20*time.Second)
	waitField(t, b, page, "mode", "live", 5*time.Second)
	dom := b.dom(page)
	for _, want := range []string{
		`data-source="redis"`,
		`id="perf-misses">20<`,
		`id="instance-count">2<`,
		`id="backend-state">redis<`,
		`id="rl-denied">6<`,
		`id="rl-denyrate">16.7%<`,
		`id="lk-contended">3<`,
		`data-pattern="Product Pages"`,
		`<span data-field="hitRate">92%</span>`,
		`<td data-field="hits">230</td>`,
		`data-instance="web-2"`,
		`data-mode="live"`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered DOM lacks %s", want)
		}
	}
	if loc := b.eval(page, `location.href`); strings.Contains(loc, "token") {
		t.Errorf("the token stayed in the address bar: %s", loc)
	}

	// Traffic on the other instance, flushed there, reaches the page
	// through the stream, round after round, and the chart draws it.
	for round := 1; round <= 3; round++ {
		send(peer, traffic{"Product Pages": {mw.CacheHit: 10}}, 2)
		if err := peer.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		waitField(t, b, page, "perf-hits", strconv.Itoa(230+10*round), 10*time.Second)
	}
	dom = b.dom(page)
	if !strings.Contains(dom, `class="hits"`) {
		t.Errorf("the chart has no hits line")
	}
	if s := b.field(page, "status"); s != "" {
		t.Errorf("page shows an error: %s", s)
	}
	if p, s := ep.polls.Load(), ep.streams.Load(); p != 0 || s != 1 {
		t.Errorf("the page polled %d times and opened %d streams, want 0 polls and 1 stream", p, s)
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}

	// Without the token the page itself is refused.
	if res, err := http.Get(srv.URL + "/dashboard"); err != nil || res.StatusCode != http.StatusUnauthorized {
		t.Errorf("dashboard without token: %v %v", res.StatusCode, err)
	} else {
		res.Body.Close()
	}
}

// Where the stream is unavailable (refused, or held back by a proxy that
// buffers it), the dashboard polls every RefreshInterval instead, and
// shows the figures of the last poll.
func TestDashboardFallsBackToPolling(t *testing.T) {
	chromium := findChromium(t)
	b := startBrowser(t, chromium)
	for _, tc := range []struct {
		name   string
		stream http.Handler
	}{
		{"refused", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "no streams here", http.StatusBadGateway)
		})},
		{"buffered", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done() // nothing gets through until the client gives up
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := redistest.New(t)
			rec := newRecorder(t, tg.NewClient(t), statshttp.Options{Prefix: tg.Prefix, Patterns: []string{"Polls"},
				RefreshInterval: 500 * time.Millisecond, StatsPath: "/api/cache/stats"})
			ep := statsEndpoint{stream: tc.stream}
			ep.onPoll = func() { observe.Emit(rec, mw.CacheHit, "Polls") } // a figure that changes at every poll
			mux := http.NewServeMux()
			mux.Handle("/api/cache/stats", ep.handler(rec))
			mux.Handle("/dashboard", rec.DashboardHandler())
			srv := httptest.NewServer(mux)
			t.Cleanup(srv.Close)

			b.t = t
			page := b.open(t, srv.URL+"/dashboard?token="+url.QueryEscape(testToken))
			eventually(t, 20*time.Second, func() string {
				if n := ep.polls.Load(); n < 3 {
					return fmt.Sprintf("%d polls", n)
				}
				return ""
			})
			waitField(t, b, page, "mode", "every 0.5 s", 5*time.Second)
			// The page shows the count of a recent poll (each one adds a hit).
			eventually(t, 5*time.Second, func() string {
				got, err := strconv.ParseInt(b.field(page, "perf-hits"), 10, 64)
				if n := ep.polls.Load(); err != nil || got < n-2 || got > n {
					return fmt.Sprintf("page shows %d hits (%v) after %d polls", got, err, n)
				}
				return ""
			})
			if s := ep.streams.Load(); s < 1 {
				t.Errorf("the page polled without trying the stream")
			}
			t.Logf("%s stream: %d polls, page shows %s hits", tc.name, ep.polls.Load(), b.field(page, "perf-hits"))
		})
	}
}
