package lockhttp_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aura-platform/redishttp/lockhttp"
	"github.com/aura-platform/redishttp/middleware"
)

func TestIdempotencyRequests(t *testing.T) {
	forEachDeployment(t, func(t *testing.T, d deployment) {
		var runs atomic.Int64
		status := http.StatusCreated
		h := serve(d.newLocker(t, lockhttp.Options{Key: middleware.ByRoute(), MaxBodyBytes: 64, RequireIdempotencyKey: true}),
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
		// A 5xx is not stored: the retry runs the handler again, and its
		// success is what gets replayed from then on.
		status = http.StatusInternalServerError
		if r := do(context.Background(), h, "u", "k3", "{}"); r.status != 500 {
			t.Fatalf("%d", r.status)
		}
		status = http.StatusCreated
		if r := do(context.Background(), h, "u", "k3", "{}"); r.status != 201 || r.header.Get(lockhttp.ReplayedHeader) != "" {
			t.Fatalf("retry after 5xx: %d %v", r.status, r.header)
		}
		r := do(context.Background(), h, "u", "k3", "{}")
		if r.status != 201 || r.header.Get(lockhttp.ReplayedHeader) != "true" || r.header.Get("X-Run") != "yes" || string(r.body) != "made" {
			t.Fatalf("replay: %d %v %q", r.status, r.header, r.body)
		}
		if runs.Load() != 2 {
			t.Fatalf("runs = %d", runs.Load())
		}
	})
}
