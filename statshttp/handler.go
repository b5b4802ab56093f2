package statshttp

import (
	"encoding/json"
	"net/http"

	"github.com/aura-platform/redishttp/middleware"
)

// StatsHandler serves the report as JSON (GET and HEAD), protected by the
// configured Token or Auth. Mount it where the dashboard expects it
// (Options.StatsPath, "/api/cache/stats" by default). The document starts
// with the summary a dashboard reads: "timestamp", "patterns" (each with
// "name", "count" of live keys, "hitRate" such as "92%", then hits, misses,
// loads, stale, coalesced, errors, bypass, stores, invalidations) and
// "performance" (the cache figures summed); then "rateLimit" and "locks"
// (totals and "routes"), "backend" (this instance's "state": "redis",
// "degraded", "memory" or "unknown"; "instances" per state; "changes"),
// "instances" (each instance's own figures, this one first), "source"
// ("redis": every instance's totals; "local": this instance's only, when
// there is no client or Redis did not answer within ReadTimeout),
// "instance" and "warnings". Building it never fails.
func (r *Recorder) StatsHandler() http.Handler {
	return r.protect(http.HandlerFunc(r.serveStats), false)
}

func (r *Recorder) serveStats(w http.ResponseWriter, req *http.Request) {
	if !allowRead(w, req) {
		return
	}
	body, err := json.Marshal(r.report(req.Context()))
	if err != nil { // only plain fields: cannot happen, but never panic
		middleware.Error(w, req, http.StatusInternalServerError, "the report could not be encoded")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if req.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	_, _ = w.Write(append(body, '\n'))
}

// allowRead answers 405 to anything but GET and HEAD.
func allowRead(w http.ResponseWriter, req *http.Request) bool {
	if req.Method == http.MethodGet || req.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	middleware.Error(w, req, http.StatusMethodNotAllowed, "only GET and HEAD are supported")
	return false
}
