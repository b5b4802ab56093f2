package ratelimithttp

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/internal/observe"
	"github.com/aura-platform/redishttp/middleware"
)

// Handler returns next wrapped by the limiter, for http.Handle, chi's
// r.Use(l.Handler) and middleware.Chain.
//
// Every checked response carries X-RateLimit-Limit, X-RateLimit-Remaining,
// X-RateLimit-Reset (epoch seconds), RateLimit-Policy and RateLimit, all
// describing the most restrictive applied policy. A refused request gets
// 429 with Retry-After (the real wait until every policy has room) and a
// problem JSON body; the handler does not run. With fallback.FailClosed a
// Redis outage gives 503 with Retry-After. A request the key function cannot key
// gets 401 (no user, with a ByUser key) or 400.
//
// Chaining limiters (an API-wide one outside, a route one inside) writes
// each header once: the inner limiter replaces the outer's headers only
// when its own policy is more restrictive. Each limiter in a chain is one
// Redis round trip; policies with Match in one Limiter share a single one.
func (l *Limiter) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sc := newScratch()
		if err := l.check(r, sc); err != nil {
			l.fail(w, r, err)
			return
		}
		res := &sc.res
		if res.source == srcNone {
			next.ServeHTTP(w, r)
			return
		}
		if s := res.tight(); s != nil && (s.Exceeded || !outerTighter(w.Header(), s)) {
			writeHeaders(w.Header(), s)
		}
		if !res.Allowed {
			observe.Emit(l.opts.Observer, middleware.RateDenied, l.opts.Route)
			l.deny(w, r, res)
			return
		}
		observe.Emit(l.opts.Observer, middleware.RateAllowed, l.opts.Route)
		next.ServeHTTP(w, r)
	})
}

func (l *Limiter) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, fallback.ErrUnavailable):
		middleware.WriteProblem(w, middleware.Problem{
			Status:     http.StatusServiceUnavailable,
			Detail:     "rate limiting is temporarily unavailable; retry shortly",
			Instance:   r.URL.Path,
			RetryAfter: l.opts.RetryAfter.Seconds(),
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
	s := res.tight()
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

// scratch holds a request's working memory in one allocation: the common
// case (up to four policies) needs no further allocation for its policies
// and states.
type scratch struct {
	res    Result
	states [4]State
	pols   [4]*compiled
}

func newScratch() *scratch {
	sc := new(scratch)
	sc.res = Result{States: sc.states[:0], Tightest: -1}
	return sc
}
