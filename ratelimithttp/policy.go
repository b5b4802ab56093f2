package ratelimithttp

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ulule/limiter/v3"
)

// Algorithm selects how a policy counts.
type Algorithm uint8

const (
	// FixedWindow is ulule/limiter's algorithm and the default: a counter
	// that starts with the first request of a window and expires one period
	// later. Cheap (one integer per key) but, at a window boundary, a client
	// can spend a full quota just before the reset and another just after.
	FixedWindow Algorithm = iota
	// SlidingWindow keeps the time and cost of each admitted request for one
	// period (a sorted-set log) and admits a request only when the units
	// admitted within the last period, plus its cost, stay within the
	// limit. It never admits more than the limit in any window-length span,
	// at the price of memory proportional to the limit per key.
	SlidingWindow
)

// String returns "fixed" or "sliding".
func (a Algorithm) String() string {
	switch a {
	case FixedWindow:
		return "fixed"
	case SlidingWindow:
		return "sliding"
	}
	return "unknown"
}

// Policy is one limit: at most Rate.Limit units of cost per Rate.Period for
// each client key.
type Policy struct {
	// Name identifies the policy in Redis keys and in the RateLimit-Policy
	// and RateLimit headers. 1 to 64 characters from [A-Za-z0-9_.-].
	// Policies with the same name and key share one counter.
	Name string
	// Rate is the limit, as built by limiter.NewRateFromFormatted("100-H")
	// or by hand (limiter.Rate{Limit: 10, Period: 1500 * time.Millisecond}).
	// The period must be at least one millisecond, the limit at least one.
	Rate limiter.Rate
	// Algorithm is FixedWindow (the zero value) or SlidingWindow.
	Algorithm Algorithm
	// Match, if set, restricts the policy to the requests it returns true
	// for (for example only POST /api/auras), so that one Limiter can check
	// a route-wide and a per-action limit in the same round trip. Nil
	// matches every request.
	Match func(*http.Request) bool
}

var (
	// ErrBadPolicy is wrapped by every policy validation error.
	ErrBadPolicy = errors.New("ratelimithttp: invalid policy")
	// ErrBadRate is wrapped when a formatted rate ("100-H") does not parse.
	ErrBadRate = errors.New("ratelimithttp: invalid rate")
)

// NewPolicy returns a fixed-window policy named name from a rate in
// ulule/limiter's format: "<limit>-<S|M|H|D>", e.g. "100-H".
func NewPolicy(name, formatted string) (Policy, error) {
	r, err := limiter.NewRateFromFormatted(strings.TrimSpace(formatted))
	if err != nil {
		return Policy{}, fmt.Errorf("%w %q for policy %q: want <limit>-<S|M|H|D>, e.g. 100-H", ErrBadRate, formatted, name)
	}
	p := Policy{Name: name, Rate: r}
	return p, p.validate()
}

// Sliding returns a copy of p that uses the sliding-window algorithm.
func (p Policy) Sliding() Policy { p.Algorithm = SlidingWindow; return p }

// When returns a copy of p restricted to the requests match accepts.
func (p Policy) When(match func(*http.Request) bool) Policy { p.Match = match; return p }

// ParsePolicies parses a comma-separated list of "name=rate" entries, e.g.
// "burst=10-S,hourly=1000-H". A "~" before the rate selects the sliding
// window: "burst=~10-S".
func ParsePolicies(spec string) ([]Policy, error) {
	var ps []Policy
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, rate, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("%w: %q is not name=rate", ErrBadPolicy, item)
		}
		rate = strings.TrimSpace(rate)
		sliding := strings.HasPrefix(rate, "~")
		p, err := NewPolicy(strings.TrimSpace(name), strings.TrimPrefix(rate, "~"))
		if err != nil {
			return nil, err
		}
		if sliding {
			p = p.Sliding()
		}
		ps = append(ps, p)
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("%w: no policies in %q", ErrBadPolicy, spec)
	}
	return ps, nil
}

// MethodPath returns a Match function accepting requests with the given
// method (any when empty) whose URL path is exactly path.
func MethodPath(method, path string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		return (method == "" || r.Method == method) && r.URL.Path == path
	}
}

// maxPolicyName bounds policy names (they appear in keys and headers).
const maxPolicyName = 64

func (p Policy) validate() error {
	if p.Name == "" || len(p.Name) > maxPolicyName {
		return fmt.Errorf("%w: name %q must have 1 to %d characters", ErrBadPolicy, p.Name, maxPolicyName)
	}
	for i := 0; i < len(p.Name); i++ {
		c := p.Name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return fmt.Errorf("%w: name %q may only use letters, digits, underscore, hyphen and dot", ErrBadPolicy, p.Name)
		}
	}
	if p.Rate.Limit < 1 {
		return fmt.Errorf("%w: %q limit %d must be at least 1", ErrBadPolicy, p.Name, p.Rate.Limit)
	}
	if p.Rate.Period < time.Millisecond {
		return fmt.Errorf("%w: %q period %v must be at least 1ms", ErrBadPolicy, p.Name, p.Rate.Period)
	}
	if p.Algorithm > SlidingWindow {
		return fmt.Errorf("%w: %q has unknown algorithm %d", ErrBadPolicy, p.Name, p.Algorithm)
	}
	return nil
}

func validatePolicies(ps []Policy) error {
	seen := make(map[string]bool, len(ps))
	for _, p := range ps {
		if err := p.validate(); err != nil {
			return err
		}
		if seen[p.Name] {
			return fmt.Errorf("%w: duplicate name %q", ErrBadPolicy, p.Name)
		}
		seen[p.Name] = true
	}
	return nil
}
