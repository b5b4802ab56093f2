package ratelimithttp

import (
	"net/http"
	"strconv"

	"github.com/aura-platform/redishttp/internal/ratefield"
)

// Header names written by the middleware, in Go's canonical form.
const (
	headerLimit      = "X-Ratelimit-Limit"
	headerRemaining  = "X-Ratelimit-Remaining"
	headerReset      = "X-Ratelimit-Reset"
	headerPolicy     = "Ratelimit-Policy"
	headerRateLimit  = "Ratelimit"
	headerRetryAfter = "Retry-After"
)

// outerTighter reports whether an enclosing limiter already wrote headers
// for a policy at least as restrictive as s (both allowed the request).
func outerTighter(h http.Header, s *State) bool {
	v := h[headerRateLimit]
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

// writeHeaders sets the five rate-limit headers for s, replacing any set
// before. The limit and policy values are the policy's precomputed shared
// strings; the other three are cut from one string.
func writeHeaders(h http.Header, s *State) {
	var scratch [112]byte
	buf := strconv.AppendInt(scratch[:0], s.Remaining, 10)
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
	all := string(buf)
	v := new([5]string)
	v[0], v[1], v[2] = all[:e1], all[e1:e2], all[e2:e3]
	h[headerRemaining] = v[0:1:1]
	h[headerReset] = v[1:2:2]
	h[headerRateLimit] = v[2:3:3]
	if pc != nil {
		h[headerLimit] = pc.limitHdr[:1:1]
		h[headerPolicy] = pc.policyHdr[:1:1]
		return
	}
	v[3], v[4] = all[e3:e4], all[e4:]
	h[headerLimit] = v[3:4:4]
	h[headerPolicy] = v[4:5:5]
}
