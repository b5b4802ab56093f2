package ratelimithttp

import "time"

// source says which backend decided a request.
type source uint8

const (
	srcRedis  source = iota + 1 // the shared Redis counters
	srcMemory                   // this process's counters (embedded mode, or fallback.UseMemory)
	srcNone                     // nothing checked: exempt, no policy matched, or pass-through
)

// State is one policy's state after a request was checked.
type State struct {
	// Policy is the policy's name.
	Policy string
	// Algorithm is the policy's algorithm.
	Algorithm Algorithm
	// Limit is the quota per window.
	Limit int64
	// Window is the policy's period.
	Window time.Duration
	// Used is the units counted in the current window, including this
	// request's when it was allowed.
	Used int64
	// Remaining is Limit-Used, never below zero.
	Remaining int64
	// ResetAfter is the time until the fixed window resets, or until the
	// oldest unit in a sliding window leaves it, on the deciding backend's
	// clock (Redis's, unless the limiter counted in memory).
	ResetAfter time.Duration
	// Reset is the absolute time of ResetAfter.
	Reset time.Time
	// Exceeded is true when this policy had no room for the request.
	Exceeded bool
	// Never is true when the request's cost exceeds the policy's limit, so
	// it can never be admitted.
	Never bool
	// RetryAfter is how long the request must wait for this policy to have
	// room (0 when it has room or Never).
	RetryAfter time.Duration

	pc *compiled // the policy, for its precomputed header values; nil in a hand-built State
}

// Result is the outcome of checking one request against its policies.
type Result struct {
	// Allowed is true when every policy had room; the request was counted
	// in all of them. A refused request is counted in none.
	Allowed bool
	// States holds each applied policy's state, in configuration order.
	States []State
	// Tightest indexes States: the most restrictive policy, whose numbers
	// the response headers carry (-1 when States is empty).
	Tightest int
	// RetryAfter is, for a refused request, the real wait until every
	// policy has room again (0 when Never).
	RetryAfter time.Duration
	// Never is true when the cost exceeds some policy's limit.
	Never bool
	// Now is the deciding backend's clock when it decided.
	Now time.Time

	source source // the backend that decided
}

// finish computes Tightest, RetryAfter and Never from States.
func (r *Result) finish() {
	r.Tightest, r.RetryAfter, r.Never = -1, 0, false
	for i := range r.States {
		s := &r.States[i]
		if s.Never {
			r.Never = true
		}
		if s.RetryAfter > r.RetryAfter {
			r.RetryAfter = s.RetryAfter
		}
		if r.Tightest < 0 || tighter(s, &r.States[r.Tightest]) {
			r.Tightest = i
		}
	}
	if r.Never {
		r.RetryAfter = 0
	}
}

// tighter reports whether a is more restrictive than b: a refusing policy
// beats one with room (a Never beats any wait, a longer wait beats a
// shorter); among policies with room, fewer remaining units win, then the
// later reset, then the smaller limit.
func tighter(a, b *State) bool {
	if a.Exceeded != b.Exceeded {
		return a.Exceeded
	}
	if a.Exceeded {
		if a.Never != b.Never {
			return a.Never
		}
		return a.RetryAfter > b.RetryAfter
	}
	if a.Remaining != b.Remaining {
		return a.Remaining < b.Remaining
	}
	if a.ResetAfter != b.ResetAfter {
		return a.ResetAfter > b.ResetAfter
	}
	return a.Limit < b.Limit
}

// tight returns the most restrictive policy's state, or nil when no policy
// applied.
func (r *Result) tight() *State {
	if r.Tightest < 0 || r.Tightest >= len(r.States) {
		return nil
	}
	return &r.States[r.Tightest]
}
