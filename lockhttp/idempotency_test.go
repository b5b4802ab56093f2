package lockhttp_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/lockhttp"
	"github.com/aura-platform/redishttp/middleware"
)

func TestIdempotencyRequests(t *testing.T) {
	withAutoPipeline(t, idempotencyRequests)
}

func idempotencyRequests(t *testing.T, auto bool) {
	forEachDeployment(t, func(t *testing.T, d deployment) {
		var runs atomic.Int64
		status := http.StatusCreated
		d.advance(t)
		h := serve(d.newLocker(t, lockhttp.Options{Key: middleware.ByRoute(), MaxBodyBytes: 64, RequireIdempotencyKey: true,
			TTL: 300 * time.Millisecond, RecordTimeout: 200 * time.Millisecond, AutoPipeline: auto}),
			http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				runs.Add(1)
				w.Header().Set("X-Run", "yes")
				w.WriteHeader(status)
				_, _ = w.Write([]byte("made"))
			}))
		cases := []struct {
			name, user, key, body string
			want                  int
		}{
			{"missing key on a route that requires it", "u", "", "{}", http.StatusBadRequest},
			{"malformed key", "u", `"open`, "{}", http.StatusBadRequest},
			{"anonymous caller", "", "k1", "{}", http.StatusUnauthorized},
			{"body over the cap", "u", "k2", strings.Repeat("x", 65), http.StatusRequestEntityTooLarge},
		}
		for _, tc := range cases {
			if err := isProblem(do(context.Background(), h, tc.user, tc.key, tc.body), tc.want); err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
		}
		if runs.Load() != 0 {
			t.Fatalf("handler ran for refused requests")
		}
		// A 5xx is not stored, and the handler may have committed before it
		// failed: the claim stays until it expires (TTL + Wait +
		// RecordTimeout), a retry meanwhile gets 409 with Retry-After, and
		// one after that runs the handler again; its success is what gets
		// replayed from then on.
		status = http.StatusInternalServerError
		if r := do(context.Background(), h, "u", "k3", "{}"); r.status != 500 {
			t.Fatalf("%d", r.status)
		}
		status = http.StatusCreated
		r := do(context.Background(), h, "u", "k3", "{}")
		if err := isProblem(r, http.StatusConflict); err != nil || r.header.Get("Retry-After") == "" {
			t.Fatalf("retry right after a 5xx: %v %v", err, r.header)
		}
		if runs.Load() != 1 {
			t.Fatalf("runs = %d after a retry of a 5xx", runs.Load())
		}
		if err := waitFor(5*time.Second, func() bool {
			r = do(context.Background(), h, "u", "k3", "{}")
			return r.status != http.StatusConflict
		}); err != nil || r.status != 201 || r.header.Get(replayedHeader) != "" {
			t.Fatalf("retry after the claim expired: %v %d %v", err, r.status, r.header)
		}
		r = do(context.Background(), h, "u", "k3", "{}")
		if r.status != 201 || r.header.Get(replayedHeader) != "true" || r.header.Get("X-Run") != "yes" || string(r.body) != "made" {
			t.Fatalf("replay: %d %v %q", r.status, r.header, r.body)
		}
		if runs.Load() != 2 {
			t.Fatalf("runs = %d", runs.Load())
		}
	})
}

// A handler that knows it changed nothing (NotApplied) releases the claim:
// the retry runs it again at once instead of waiting for the claim to
// expire.
func TestNotAppliedReleasesClaim(t *testing.T) {
	forEachDeployment(t, func(t *testing.T, d deployment) {
		var runs atomic.Int64
		h := serve(d.newLocker(t, lockhttp.Options{Key: middleware.ByRoute()}),
			http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if runs.Add(1) == 1 {
					lockhttp.NotApplied(r.Context())
					middleware.Error(w, r, http.StatusServiceUnavailable, "store unavailable; nothing written")
					return
				}
				w.WriteHeader(http.StatusCreated)
			}))
		if r := do(context.Background(), h, "u", "na-1", "{}"); r.status != http.StatusServiceUnavailable {
			t.Fatalf("first: %d", r.status)
		}
		if r := do(context.Background(), h, "u", "na-1", "{}"); r.status != http.StatusCreated || r.header.Get(replayedHeader) != "" {
			t.Fatalf("retry: %d %s", r.status, r.body)
		}
		if r := do(context.Background(), h, "u", "na-1", "{}"); r.status != http.StatusCreated || r.header.Get(replayedHeader) != "true" {
			t.Fatalf("replay: %d %s", r.status, r.body)
		}
		if runs.Load() != 2 {
			t.Fatalf("runs = %d", runs.Load())
		}
	})
}
