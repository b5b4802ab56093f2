package ratelimithttp

import (
	"errors"
	"net/http"
	"strconv"
	"unsafe"

	"github.com/aura-platform/redishttp/internal/observe"
	"github.com/aura-platform/redishttp/internal/ratefield"
	"github.com/aura-platform/redishttp/middleware"
)

// Header names written by the middleware, in Go's canonical form.
const (
	HeaderLimit      = "X-Ratelimit-Limit"
	HeaderRemaining  = "X-Ratelimit-Remaining"
	HeaderReset      = "X-Ratelimit-Reset"
	HeaderPolicy     = "Ratelimit-Policy"
	HeaderRateLimit  = "Ratelimit"
	HeaderRetryAfter = "Retry-After"
)

// Handler returns next wrapped by the limiter, for http.Handle, chi's
// r.Use(l.Handler) and middleware.Chain.
//
// Every checked response carries X-RateLimit-Limit, X-RateLimit-Remaining,
// X-RateLimit-Reset (epoch seconds), RateLimit-Policy and RateLimit, all
// describing the most restrictive applied policy. A refused request gets
// 429 with Retry-After (the real wait until every policy has room) and a
// problem JSON body; the handler does not run. In FailClosed mode a Redis
// outage gives 503 with Retry-After. A request the key function cannot key
// gets 401 (no user, with a ByUser key) or 400.
//
// Chaining limiters (an API-wide one outside, a route one inside) writes
// each header once: the inner limiter replaces the outer's headers only
// when its own policy is more restrictive. Each limiter in a chain is one
// Redis round trip; policies with Match in one Limiter share a single one.
func (l *Limiter) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sc := getScratch()
		if err := l.check(r, sc); err != nil {
			putScratch(sc)
			l.fail(w, r, err)
			return
		}
		res := &sc.res
		if res.Source == SourceNone {
			putScratch(sc)
			next.ServeHTTP(w, r)
			return
		}
		if s, ok := res.Tight(); ok && (s.Exceeded || !outerTighter(w.Header(), &s)) {
			writeHeaders(w.Header(), &s)
		}
		if !res.Allowed {
			observe.Emit(l.opts.Observer, middleware.RateDenied, l.opts.Route)
			l.deny(w, r, res)
			putScratch(sc)
			return
		}
		putScratch(sc)
		observe.Emit(l.opts.Observer, middleware.RateAllowed, l.opts.Route)
		next.ServeHTTP(w, r)
	})
}

func (l *Limiter) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, ErrUnavailable):
		middleware.WriteProblem(w, middleware.Problem{
			Status:     http.StatusServiceUnavailable,
			Detail:     "rate limiting is temporarily unavailable; retry shortly",
			Instance:   r.URL.Path,
			RetryAfter: l.opts.FailClosedRetryAfter.Seconds(),
		})
	case errors.Is(err, middleware.ErrNoUser):
		middleware.Error(w, r, http.StatusUnauthorized, "authentication required")
	case errors.Is(err, ErrKey):
		middleware.Error(w, r, http.StatusBadRequest, "request cannot be rate limited")
	default:
		// The client went away (context canceled): nobody to answer.
		if r.Context().Err() == nil {
			middleware.Error(w, r, http.StatusServiceUnavailable, "rate limiting failed")
		}
	}
}

func (l *Limiter) deny(w http.ResponseWriter, r *http.Request, res *Result) {
	s, _ := res.Tight()
	p := middleware.Problem{
		Status:   http.StatusTooManyRequests,
		Instance: r.URL.Path,
	}
	if res.Never {
		p.Detail = "request cost exceeds rate limit " + strconv.Quote(s.Policy)
	} else {
		p.Detail = "rate limit " + strconv.Quote(s.Policy) + " exceeded: " +
			strconv.FormatInt(s.Limit, 10) + " per " + s.Window.String()
		p.RetryAfter = res.RetryAfter.Seconds()
	}
	middleware.WriteProblem(w, p)
}

// outerTighter reports whether an enclosing limiter already wrote headers
// for a policy at least as restrictive as s (both allowed the request).
func outerTighter(h http.Header, s *State) bool {
	v := h[HeaderRateLimit]
	if len(v) == 0 {
		return false
	}
	items, err := ratefield.Parse(v[0])
	if err != nil || len(items) == 0 {
		return false
	}
	rem, ok1 := items[0].Int("r")
	t, ok2 := items[0].Int("t")
	if !ok1 || !ok2 {
		return false
	}
	if rem != s.Remaining {
		return rem < s.Remaining
	}
	return t >= ratefield.Seconds(s.ResetAfter)
}

// headerValues backs the per-request header values of one response in a
// single allocation: the bytes are written once, then only read through
// the strings made over them.
type headerValues struct {
	vals [5]string
	buf  [112]byte
}

// writeHeaders sets the five rate-limit headers for s, replacing any set
// before. The limit and policy values are the policy's precomputed shared
// strings; the other three cost one allocation together.
func writeHeaders(h http.Header, s *State) {
	hv := new(headerValues)
	buf := strconv.AppendInt(hv.buf[:0], s.Remaining, 10)
	e1 := len(buf)
	reset := s.Reset.Unix()
	if s.Reset.Nanosecond() > 0 {
		reset++ // round up: never announce a reset before it happens
	}
	buf = strconv.AppendInt(buf, reset, 10)
	e2 := len(buf)
	pc := s.pc
	if pc != nil && pc.p.Name == s.Policy && pc.p.Rate.Limit == s.Limit {
		buf = append(buf, pc.rlPrefix...)
		buf = strconv.AppendInt(buf, max(s.Remaining, 0), 10)
		buf = append(buf, ";t="...)
		buf = strconv.AppendInt(buf, ratefield.Seconds(s.ResetAfter), 10)
	} else {
		pc = nil
		buf = ratefield.AppendRateLimit(buf, s.Policy, s.Remaining, s.ResetAfter)
	}
	e3 := len(buf)
	if pc == nil {
		buf = strconv.AppendInt(buf, s.Limit, 10)
	}
	e4 := len(buf)
	if pc == nil {
		buf = ratefield.AppendPolicy(buf, s.Policy, s.Limit, s.Window)
	}
	var all string
	if len(buf) <= len(hv.buf) {
		// buf never grew past hv.buf, which nothing writes again.
		all = unsafe.String(&hv.buf[0], len(buf))
	} else {
		all = string(buf)
	}
	v := &hv.vals
	v[0], v[1], v[2] = all[:e1], all[e1:e2], all[e2:e3]
	h[HeaderRemaining] = v[0:1:1]
	h[HeaderReset] = v[1:2:2]
	h[HeaderRateLimit] = v[2:3:3]
	if pc != nil {
		h[HeaderLimit] = pc.limitHdr[:1:1]
		h[HeaderPolicy] = pc.policyHdr[:1:1]
		return
	}
	v[3], v[4] = all[e3:e4], all[e4:]
	h[HeaderLimit] = v[3:4:4]
	h[HeaderPolicy] = v[4:5:5]
}
