package middleware

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"

	"github.com/aura-platform/redishttp/internal/retryafter"
)

// Problem is an RFC 9457 problem details object. Only text meant for clients
// goes in it: internal error messages never do.
type Problem struct {
	// Type is a URI reference naming the problem type; "about:blank" when empty.
	Type string `json:"type,omitempty"`
	// Title is a short human-readable summary; the status text when empty.
	Title string `json:"title"`
	// Status is the HTTP status code.
	Status int `json:"status"`
	// Detail explains this occurrence to the client.
	Detail string `json:"detail,omitempty"`
	// Instance identifies this occurrence, usually the request path.
	Instance string `json:"instance,omitempty"`
	// RetryAfter, when positive, is also sent as the Retry-After header, in
	// whole seconds rounded up.
	RetryAfter float64 `json:"retryAfter,omitempty"`
}

// problemContentType is the media type of problem responses.
const problemContentType = "application/problem+json"

// WriteProblem writes p as an application/problem+json response. Headers the
// caller set on w before (rate-limit headers, for example) are kept.
func WriteProblem(w http.ResponseWriter, p Problem) {
	if p.Status == 0 {
		p.Status = http.StatusInternalServerError
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	h := w.Header()
	h.Set("Content-Type", problemContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	switch {
	case math.IsNaN(p.RetryAfter) || p.RetryAfter <= 0:
		p.RetryAfter = 0 // omitted: JSON has no NaN
	case math.IsInf(p.RetryAfter, 1) || p.RetryAfter > retryafter.Max:
		p.RetryAfter = retryafter.Max // JSON has no Inf either
	}
	if p.RetryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(retryafter.Seconds(p.RetryAfter), 10))
	}
	// With RetryAfter finite, a struct of strings and numbers cannot fail.
	body, _ := json.Marshal(p)
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(body, '\n'))
}

// Error writes a problem response with the given status and client-facing
// detail, naming the request path as the instance.
func Error(w http.ResponseWriter, r *http.Request, status int, detail string) {
	WriteProblem(w, Problem{Status: status, Detail: detail, Instance: r.URL.Path})
}
