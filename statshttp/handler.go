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
//
// A GET whose Accept header lists text/event-stream (as an EventSource
// sends) gets the report as server-sent events instead, behind the same
// authentication: a "data:" event carrying the report JSON at once and
// then whenever it changes, a comment line (": heartbeat") after 15 s
// without an event, and the end of the stream after 10 minutes, so the
// client reconnects and its credentials are checked again. While at least
// one stream is open, the Recorder builds one report every FlushInterval
// and shares it among all open streams, so the Redis reads do not grow
// with the number of streams; with none open it reads nothing. The stream
// lifts the server's read and write timeouts for its connection and
// drops a client that does not accept an event within 10 s. Close ends
// the open streams; a stream requested after Close gets 503.
func (r *Recorder) StatsHandler() http.Handler {
	return r.protect(http.HandlerFunc(r.serveStats), false)
}

func (r *Recorder) serveStats(w http.ResponseWriter, req *http.Request) {
	if !allowRead(w, req) {
		return
	}
	if req.Method == http.MethodGet && wantsStream(req) {
		r.serveLive(w, req)
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
	h.Set("Vary", "Accept")
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
