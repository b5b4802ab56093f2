package aura_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/examples/server/aura"
	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The stats stream of one instance (what the dashboard follows) shows the
// requests the other two serve, through the demo's whole stack, and takes
// the same token as the JSON report.
func TestStatsStreamAcrossThreeInstances(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := start(t, 3, env(tg.Prefix, nil), func() redis.UniversalClient { return tg.NewClient(t) })
		url := c.srvs[0].URL + "/api/cache/stats"
		stream := map[string]string{"Accept": "text/event-stream"}
		assert.Equal(t, 401, do(t, "GET", url, "", stream).status)

		ctx, cancel := context.WithCancel(context.Background())
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		require.NoError(t, err)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		require.Equal(t, 200, res.StatusCode)
		require.Equal(t, "text/event-stream", res.Header.Get("Content-Type"))
		type report struct {
			Patterns []struct {
				Name         string `json:"name"`
				Hits, Misses int64
			} `json:"patterns"`
			Instances []json.RawMessage `json:"instances"`
		}
		reports := make(chan report, 100)
		done := make(chan struct{})
		t.Cleanup(func() { cancel(); <-done; res.Body.Close() })
		go func() {
			defer close(done)
			sc := bufio.NewScanner(res.Body)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
					var r report
					if json.Unmarshal([]byte(data), &r) == nil {
						reports <- r
					}
				}
			}
		}()
		news := func(r report) (hits, misses int64) {
			for _, p := range r.Patterns {
				if p.Name == aura.PatternNews {
					return p.Hits, p.Misses
				}
			}
			return 0, 0
		}
		next := func() report {
			select {
			case r := <-reports:
				return r
			case <-time.After(10 * time.Second):
				t.Fatal("no report on the stream in 10s")
			}
			return report{}
		}
		h0, m0 := news(next())

		start := time.Now()
		for i, s := range c.srvs[1:] { // a miss and a hit on each of the other two
			for range 2 {
				require.Equal(t, 200, do(t, "GET", s.URL+"/api/news?topic=stream-"+strconv.Itoa(i), "", nil).status)
			}
		}
		for {
			r := next()
			h, m := news(r)
			if h-h0 == 2 && m-m0 == 2 && len(r.Instances) == 3 {
				break
			}
			require.LessOrEqual(t, h-h0, int64(2))
		}
		t.Logf("%s: the other instances' requests reached instance 0's stream after %v", tg.Name, time.Since(start).Round(time.Millisecond))
	})
}
