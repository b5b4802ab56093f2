package statshttp_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/observe"
	"github.com/aura-platform/redishttp/middleware"
	"github.com/aura-platform/redishttp/statshttp"
	"github.com/redis/go-redis/v9"
)

const testToken = "s3cret-token-0123456789abcdef"

// newRecorder builds a Recorder closed at the end of the test.
func newRecorder(t testing.TB, client redis.UniversalClient, opts statshttp.Options) *statshttp.Recorder {
	t.Helper()
	if opts.Token == "" && opts.Auth == nil {
		opts.Token = testToken
	}
	rec, err := statshttp.New(client, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = rec.Close() })
	return rec
}

// get serves one request to h and returns the response.
func get(h http.Handler, target, token string) *http.Response {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Result()
}

// fetchReport gets and decodes the JSON report from rec's StatsHandler.
func fetchReport(t testing.TB, rec *statshttp.Recorder) statshttp.Report {
	t.Helper()
	res := get(rec.StatsHandler(), "/api/cache/stats", testToken)
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("stats: status %d", res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("stats: Content-Type %q", ct)
	}
	var rep statshttp.Report
	if err := json.NewDecoder(res.Body).Decode(&rep); err != nil {
		t.Fatalf("stats: decode: %v", err)
	}
	return rep
}

// traffic is a number of events of each kind per route.
type traffic map[string]map[middleware.EventKind]int

// send reports tr to o from several goroutines at once, interleaved.
func send(o middleware.Observer, tr traffic, workers int) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for route, kinds := range tr {
				for k, n := range kinds {
					for i := w; i < n; i += workers {
						observe.Emit(o, k, route)
					}
				}
			}
		}()
	}
	wg.Wait()
}

func pattern(t testing.TB, rep statshttp.Report, name string) statshttp.Pattern {
	t.Helper()
	for _, p := range rep.Patterns {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("pattern %q not in report (%d patterns)", name, len(rep.Patterns))
	return statshttp.Pattern{}
}

// eventually polls cond every 20ms until it returns "" or d passes, and
// fails with cond's last complaint.
func eventually(t testing.TB, d time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
