package statshttp_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
	mw "github.com/aura-platform/redishttp/middleware"
	"github.com/aura-platform/redishttp/statshttp"
)

// sseEvent is one event of a stream: a report (data), a comment or the
// retry field.
type sseEvent struct {
	data, comment, retry string
}

// sseClient reads a report stream in the background.
type sseClient struct {
	res    *http.Response
	events chan sseEvent
	cancel context.CancelFunc
	done   chan struct{} // closed when the stream ended
}

// openStream opens a report stream on url with token ("" for none).
func openStream(t testing.TB, url, token string) (*sseClient, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	c := &sseClient{res: res, events: make(chan sseEvent, 1000), cancel: cancel, done: make(chan struct{})}
	t.Cleanup(c.close)
	if res.StatusCode != http.StatusOK {
		close(c.done)
		return c, res
	}
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				c.events <- ev
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				ev.comment = strings.TrimSpace(line[1:])
			case strings.HasPrefix(line, "data: "):
				ev.data += line[len("data: "):]
			case strings.HasPrefix(line, "retry: "):
				ev.retry = line[len("retry: "):]
			default:
				t.Errorf("unexpected line %q", line)
			}
		}
	}()
	return c, res
}

func (c *sseClient) close() {
	c.cancel()
	<-c.done
	c.res.Body.Close()
}

// next returns the next event, failing after d.
func (c *sseClient) next(t testing.TB, d time.Duration) sseEvent {
	t.Helper()
	select {
	case ev := <-c.events:
		return ev
	case <-c.done:
		select {
		case ev := <-c.events:
			return ev
		default:
		}
		t.Fatal("the stream ended")
	case <-time.After(d):
		t.Fatalf("no event in %v", d)
	}
	return sseEvent{}
}

// nextReport skips comments and returns the next report.
func (c *sseClient) nextReport(t testing.TB, d time.Duration) statshttp.Report {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ev := c.next(t, time.Until(deadline))
		if ev.data == "" {
			continue
		}
		var rep statshttp.Report
		if err := json.Unmarshal([]byte(ev.data), &rep); err != nil {
			t.Fatalf("event data is not a report: %v: %q", err, ev.data)
		}
		return rep
	}
}

// The stream sits behind the same authentication as the JSON report: the
// same 401 (or the Auth middleware's 403) and no ?token=.
func TestLiveStreamRequiresAuth(t *testing.T) {
	deny := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c, err := r.Cookie("session"); err == nil && c.Value == "ok" {
				h.ServeHTTP(w, r)
				return
			}
			mw.Error(w, r, http.StatusForbidden, "no session")
		})
	}
	rec := newRecorder(t, nil, statshttp.Options{AuthFailureLimit: 1000, Auth: deny, Token: testToken})
	srv := httptest.NewServer(rec.StatsHandler())
	t.Cleanup(srv.Close)

	for _, tc := range []struct {
		desc, query, auth, cookie string
		want                      int
	}{
		{"no credentials: Auth refuses", "", "", "", 403},
		{"wrong token: Auth refuses", "", "Bearer " + testToken + "x", "", 403},
		{"query token is not taken", "?token=" + testToken, "", "", 403},
		{"bearer token", "", "Bearer " + testToken, "", 200},
		{"Auth's cookie", "", "", "ok", 200},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			for _, accept := range []string{"application/json", "text/event-stream"} {
				req, _ := http.NewRequest(http.MethodGet, srv.URL+tc.query, nil)
				req.Header.Set("Accept", accept)
				if tc.auth != "" {
					req.Header.Set("Authorization", tc.auth)
				}
				if tc.cookie != "" {
					req.AddCookie(&http.Cookie{Name: "session", Value: tc.cookie})
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				res, err := http.DefaultClient.Do(req.WithContext(ctx))
				if err != nil {
					cancel()
					t.Fatal(err)
				}
				ct := res.Header.Get("Content-Type")
				if res.StatusCode == 200 && accept == "text/event-stream" {
					// The report gets through the authentication's wrapper at once.
					sc := bufio.NewScanner(res.Body)
					sc.Buffer(make([]byte, 1<<20), 1<<20)
					for sc.Scan() && !strings.HasPrefix(sc.Text(), "data: {") {
					}
					if sc.Err() != nil {
						t.Errorf("no report on the stream: %v", sc.Err())
					}
				}
				cancel()
				res.Body.Close()
				if res.StatusCode != tc.want {
					t.Errorf("Accept %s: status %d, want %d", accept, res.StatusCode, tc.want)
				}
				wantCT := map[bool]string{true: "application/problem+json"}[tc.want != 200]
				if tc.want == 200 {
					wantCT = map[string]string{"application/json": "application/json", "text/event-stream": "text/event-stream"}[accept]
				}
				if !strings.HasPrefix(ct, wantCT) {
					t.Errorf("Accept %s: Content-Type %q, want %q", accept, ct, wantCT)
				}
			}
		})
	}

	// Token only: the same 401 with its challenge as the JSON report.
	tokenOnly := newRecorder(t, nil, statshttp.Options{AuthFailureLimit: 1000})
	req := httptest.NewRequest(http.MethodGet, "/api/cache/stats", nil)
	req.Header.Set("Accept", "text/event-stream")
	w := httptest.NewRecorder()
	tokenOnly.StatsHandler().ServeHTTP(w, req)
	if w.Code != 401 || !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer ") {
		t.Errorf("stream without a token: %d %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
}

// The stream opens with the retry field, sends the report at once, a new
// report when a figure changes and nothing else but heartbeats while none
// does; each report is the JSON document the handler serves.
func TestLiveStreamEvents(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		opts := statshttp.Options{Prefix: tg.Prefix, FlushInterval: 50 * time.Millisecond, RefreshInterval: 1500 * time.Millisecond}
		rec := newRecorder(t, tg.NewClient(t), withID(opts, "web-1"))
		rec.SetLiveTimes(300*time.Millisecond, time.Hour)
		srv := httptest.NewServer(rec.StatsHandler())
		t.Cleanup(srv.Close)

		c, res := openStream(t, srv.URL, testToken)
		for h, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-store",
			"X-Accel-Buffering": "no", "Vary": "Accept"} {
			if got := res.Header.Get(h); got != want {
				t.Errorf("%s %q, want %q", h, got, want)
			}
		}
		if ev := c.next(t, 5*time.Second); ev.retry != "1500" || ev.data != "" {
			t.Fatalf("first event %+v, want retry: 1500", ev)
		}
		rep := c.nextReport(t, 5*time.Second)
		if rep.Source != statshttp.SourceRedis || rep.Instance != "web-1" || rep.Performance.Hits != 0 {
			t.Fatalf("first report: source %q instance %q hits %d", rep.Source, rep.Instance, rep.Performance.Hits)
		}

		// Nothing changes: only heartbeats, no report (four intervals of
		// building at least, and two heartbeats).
		for range 2 {
			if ev := c.next(t, 5*time.Second); ev.comment != "heartbeat" || ev.data != "" {
				t.Fatalf("idle stream sent %+v, want a heartbeat", ev)
			}
		}

		rec.Observe(mw.Event{Kind: mw.CacheHit, Route: "Product Pages"})
		rep = c.nextReport(t, 5*time.Second)
		if rep.Performance.Hits != 1 || pattern(t, rep, "Product Pages").Hits != 1 {
			t.Fatalf("after one hit the stream shows %d hits", rep.Performance.Hits)
		}
		if err := rec.Flush(context.Background()); err != nil { // moved to Redis: the same figures
			t.Fatal(err)
		}
		rec.Observe(mw.Event{Kind: mw.CacheMiss, Route: "Product Pages"})
		if rep = c.nextReport(t, 5*time.Second); rep.Performance.Hits != 1 || rep.Performance.Misses != 1 {
			t.Fatalf("after a miss: hits %d misses %d", rep.Performance.Hits, rep.Performance.Misses)
		}
	})
}

// Many open streams share one report per interval: the number of reports
// built, and so of Redis reads, does not grow with the number of streams,
// and each build sends the commands of one JSON request.
func TestLiveStreamsShareOneReport(t *testing.T) {
	tg := redistest.New(t)
	const interval = 100 * time.Millisecond
	client := tg.NewClient(t)
	log := &cmdLog{}
	client.AddHook(log)
	// Nothing new to flush and a heartbeat every 20 minutes: only the
	// reports use the client.
	rec := newRecorder(t, client, withID(statshttp.Options{Prefix: tg.Prefix, FlushInterval: interval, InstanceTTL: time.Hour}, "web-1"))
	peer := newRecorder(t, tg.NewClient(t), withID(statshttp.Options{Prefix: tg.Prefix}, "web-2"))
	peer.Observe(mw.Event{Kind: mw.CacheHit, Route: "r"})
	if err := peer.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec.Observe(mw.Event{Kind: mw.CacheHit, Route: "r"})
	if err := rec.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	// One JSON request's commands.
	log.take()
	fetchReport(t, rec)
	perRequest := len(log.take())

	srv := httptest.NewServer(rec.StatsHandler())
	t.Cleanup(srv.Close)
	const streams = 20
	clients := make([]*sseClient, streams)
	for i := range clients {
		clients[i], _ = openStream(t, srv.URL, testToken)
	}
	for _, c := range clients {
		if rep := c.nextReport(t, 5*time.Second); rep.Performance.Hits != 2 || len(rep.Instances) != 2 {
			t.Fatalf("report: hits %d instances %d", rep.Performance.Hits, len(rep.Instances))
		}
	}
	b0 := rec.LiveBuilds()
	log.take()
	start := time.Now()
	time.Sleep(20 * interval)
	builds, cmds, took := rec.LiveBuilds()-b0, len(log.take()), time.Since(start)
	ticks := int64(took/interval) + 1
	t.Logf("%d streams for %v: %d reports built (%d intervals), %d commands (%d per JSON request)",
		streams, took.Round(time.Millisecond), builds, ticks, cmds, perRequest)
	if builds > ticks || builds < 1 {
		t.Errorf("%d reports built in %d intervals for %d streams, want one per interval", builds, ticks, streams)
	}
	// One report may straddle the start or the end of the window.
	if int64(cmds) > (builds+1)*int64(perRequest) {
		t.Errorf("%d commands for %d reports, more than the %d of one JSON request each", cmds, builds, perRequest)
	}
	for _, c := range clients {
		c.close()
	}
}

// A client that goes away frees its handler goroutine, and the builder
// stops with the last stream: no report is built with no stream open.
func TestLiveStreamDisconnectFreesGoroutines(t *testing.T) {
	tg := redistest.New(t)
	rec := newRecorder(t, tg.NewClient(t), statshttp.Options{Prefix: tg.Prefix, FlushInterval: 20 * time.Millisecond})
	srv := httptest.NewServer(rec.StatsHandler())
	t.Cleanup(srv.Close)
	var clients []*sseClient
	for range 5 {
		c, _ := openStream(t, srv.URL, testToken)
		c.nextReport(t, 5*time.Second)
		clients = append(clients, c)
	}
	if n := goroutines("statshttp.(*Recorder).serveLive"); n != 5 {
		t.Fatalf("%d stream goroutines for 5 streams", n)
	}
	if n := goroutines("statshttp.(*liveHub).run"); n != 1 {
		t.Fatalf("%d builders for 5 streams", n)
	}
	for i, c := range clients {
		c.close()
		want := 4 - i
		if !eventuallyTrue(5*time.Second, func() bool { return goroutines("statshttp.(*Recorder).serveLive") == want }) {
			t.Fatalf("after %d clients left: %d stream goroutines", i+1, goroutines("statshttp.(*Recorder).serveLive"))
		}
	}
	if !eventuallyTrue(5*time.Second, func() bool { return goroutines("statshttp.(*liveHub).run") == 0 }) {
		t.Fatal("the builder runs with no stream open")
	}
	b := rec.LiveBuilds()
	time.Sleep(10 * 20 * time.Millisecond)
	if n := rec.LiveBuilds() - b; n != 0 {
		t.Errorf("%d reports built with no stream open", n)
	}

	// A new stream starts the builder again and gets a fresh report.
	rec.Observe(mw.Event{Kind: mw.CacheHit, Route: "r"})
	c, _ := openStream(t, srv.URL, testToken)
	if rep := c.nextReport(t, 5*time.Second); rep.Performance.Hits != 1 {
		t.Errorf("reopened stream: hits %d", rep.Performance.Hits)
	}
}

// The stream outlives the server's ReadTimeout and WriteTimeout, ends
// after its lifetime, and Close ends it (a stream asked for afterwards
// gets 503, the JSON report still works).
func TestLiveStreamTimeoutsLifetimeClose(t *testing.T) {
	tg := redistest.New(t)
	rec, err := statshttp.New(tg.NewClient(t), statshttp.Options{Token: testToken, Prefix: tg.Prefix, FlushInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	rec.SetLiveTimes(50*time.Millisecond, 1500*time.Millisecond)
	srv := httptest.NewUnstartedServer(rec.StatsHandler())
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = 200*time.Millisecond, 200*time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)

	c, _ := openStream(t, srv.URL, testToken)
	c.nextReport(t, 5*time.Second)
	start := time.Now()
	beats := 0
	for time.Since(start) < time.Second { // five times the server's timeouts
		if ev := c.next(t, 5*time.Second); ev.comment == "heartbeat" {
			beats++
		}
	}
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not end after its lifetime")
	}
	t.Logf("%d heartbeats in the stream's first second; it ended after %v", beats, time.Since(start).Round(time.Millisecond))

	c, _ = openStream(t, srv.URL, testToken)
	c.nextReport(t, 5*time.Second)
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the stream")
	}
	if _, res := openStream(t, srv.URL, testToken); res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("stream after Close: %d", res.StatusCode)
	}
	fetchReport(t, rec)
}

// Three instances on one Redis: the stream of one shows the traffic the
// other two flush, as it happens.
func TestLiveStreamAcrossInstances(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		opts := statshttp.Options{Prefix: tg.Prefix, FlushInterval: 50 * time.Millisecond, Patterns: []string{"Product Pages"}}
		var recs []*statshttp.Recorder
		for i := range 3 {
			recs = append(recs, newRecorder(t, tg.NewClient(t), withID(opts, fmt.Sprintf("inst-%d", i))))
		}
		srv := httptest.NewServer(recs[0].StatsHandler())
		t.Cleanup(srv.Close)
		c, _ := openStream(t, srv.URL, testToken)
		c.nextReport(t, 5*time.Second)

		var lat []time.Duration
		for round := 1; round <= 5; round++ {
			from := recs[1+round%2]
			start := time.Now()
			send(from, traffic{"Product Pages": {mw.CacheHit: 10}}, 2)
			for {
				rep := c.nextReport(t, 5*time.Second)
				if rep.Performance.Hits == int64(10*round) {
					if len(rep.Instances) != 3 {
						t.Errorf("round %d: %d instances listed", round, len(rep.Instances))
					}
					break
				}
				if rep.Performance.Hits > int64(10*round) {
					t.Fatalf("round %d: %d hits", round, rep.Performance.Hits)
				}
			}
			lat = append(lat, time.Since(start))
		}
		t.Logf("%s: traffic on another instance reached the stream after %v (flush every %v)", tg.Name, lat, opts.FlushInterval)
	})
}
