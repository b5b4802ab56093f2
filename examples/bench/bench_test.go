package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// redisAddr is REDIS_URL's host:port when set (redis://host:port/db), else
// a fresh miniredis.
func redisAddr(t *testing.T) string {
	t.Helper()
	if u := os.Getenv("REDIS_URL"); u != "" {
		u = strings.TrimPrefix(u, "redis://")
		if i := strings.IndexByte(u, '/'); i >= 0 {
			u = u[:i]
		}
		return u
	}
	return miniredis.RunT(t).Addr()
}

func testBody() []byte { return bytes.Repeat([]byte("x"), 1024) }

// Every contender starts, passes its response check, and answers a burst
// of concurrent requests with 2xx; the raw baselines make exactly the
// round trips they claim.
func TestContendersServe(t *testing.T) {
	addr := redisAddr(t)
	exact := map[string]float64{
		"bare": 0, "raw GET": 1, "raw EVALSHA": 1,
		"raw lock SET NX + EVALSHA": 2, "raw GET + EVALSHA + headers": 2,
	}
	for _, c := range sortedContenders() {
		t.Run(c.name, func(t *testing.T) {
			r, err := start(context.Background(), config{redisAddr: addr}, c,
				env{prefix: "benchtest:" + keySafe(t.Name()) + ":", body: testBody()})
			if err != nil {
				t.Fatal(err)
			}
			defer shutdown(r)

			// 40 requests, 8 at a time: concurrent, but not so many that a
			// -race build on a busy machine exceeds the toolkit's command
			// timeouts (which would rightly answer 503).
			const n, inFlight = 40, 8
			before := r.counter.n.Load()
			var wg sync.WaitGroup
			sem := make(chan struct{}, inFlight)
			errs := make(chan error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					sem <- struct{}{}
					defer func() { <-sem }()
					req, _ := http.NewRequest(http.MethodGet, r.url, nil)
					req.Header.Set("X-User-ID", "bench")
					req.Header.Set("X-Bench-Conn", strconv.Itoa(i))
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						errs <- err
						return
					}
					var buf bytes.Buffer
					_, _ = buf.ReadFrom(resp.Body)
					_ = resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						t.Errorf("HTTP %d: %.200s", resp.StatusCode, buf.Bytes())
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if want, ok := exact[c.name]; ok {
				got := float64(r.counter.n.Load()-before) / n
				if got != want {
					t.Errorf("round trips per request = %v, want %v", got, want)
				}
			}
		})
	}
}

type childOutput struct {
	lines []string
	res   loadResult
}

func runChild(t *testing.T, url string) childOutput {
	t.Helper()
	var out bytes.Buffer
	if err := runLoadgenChild(&out, url, 4, 100*time.Millisecond, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	var co childOutput
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		co.lines = append(co.lines, sc.Text())
	}
	if len(co.lines) != 3 || co.lines[0] != measureMarker || co.lines[1] != endMarker {
		t.Fatalf("child output = %q, want MEASURE, END, JSON", co.lines)
	}
	if err := json.Unmarshal([]byte(co.lines[2]), &co.res); err != nil {
		t.Fatal(err)
	}
	return co
}

// The load generator counts 2xx only, measures latency, and reports
// non-2xx answers and transport errors instead of counting them.
func TestLoadgenCountsOnly2xx(t *testing.T) {
	body := testBody()
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeBody(w, body) }))
	defer ok.Close()
	co := runChild(t, ok.URL)
	if co.res.OK == 0 || co.res.Failed() != 0 || co.res.P50 <= 0 || co.res.P99 < co.res.P50 {
		t.Fatalf("healthy server: %+v", co.res)
	}
	if co.res.BodyBytes != co.res.OK*int64(len(body)) {
		t.Fatalf("body bytes %d for %d responses of %d bytes", co.res.BodyBytes, co.res.OK, len(body))
	}

	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "nope", http.StatusTooManyRequests)
	}))
	defer bad.Close()
	co = runChild(t, bad.URL)
	if co.res.OK != 0 || co.res.Non2xx[http.StatusTooManyRequests] == 0 || co.res.FirstErr != "HTTP 429" {
		t.Fatalf("429 server: %+v", co.res)
	}

	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	co = runChild(t, url)
	if co.res.OK != 0 || co.res.Errors == 0 || co.res.FirstErr == "" {
		t.Fatalf("closed server: %+v", co.res)
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// -only keeps the selected contenders plus bare and their baselines.
func TestSelectKeepsBaselines(t *testing.T) {
	var names []string
	for _, c := range selectContenders(sortedContenders(), regexp.MustCompile("ulule")) {
		names = append(names, c.name)
	}
	if got := strings.Join(names, ","); got != "bare,raw EVALSHA,peer ulule/limiter" {
		t.Fatalf("selected %s", got)
	}
}
