package ratelimithttp

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aura-platform/redishttp/internal/ratefield"
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
	// for (for example only POST /api/orders), so that one Limiter can check
	// a route-wide and a per-action limit in the same round trip. Nil
	// matches every request.
	//
	//	order.Match = func(r *http.Request) bool { return r.Method == "POST" && r.URL.Path == "/api/orders" }
	Match func(*http.Request) bool
}

// NewPolicy returns a fixed-window policy named name from a rate in
// ulule/limiter's format: "<limit>-<S|M|H|D>", e.g. "100-H".
func NewPolicy(name, formatted string) (Policy, error) {
	r, err := limiter.NewRateFromFormatted(strings.TrimSpace(formatted))
	if err != nil {
		return Policy{}, fmt.Errorf("%w: rate %q for policy %q: want <limit>-<S|M|H|D>, e.g. 100-H", ErrBadPolicy, formatted, name)
	}
	p := Policy{Name: name, Rate: r}
	return p, p.validate()
}

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
			p.Algorithm = SlidingWindow
		}
		ps = append(ps, p)
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("%w: no policies in %q", ErrBadPolicy, spec)
	}
	return ps, nil
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

// compiled is a validated policy with its key suffixes, script arguments
// and constant header values prepared once.
type compiled struct {
	p        Policy
	suffixes []string // one per Redis key the policy uses
	sliding  bool
	args     [3]any // for sliding.lua: algorithm, limit, period ms (boxed once)
	window   time.Duration

	// Header values that depend on the policy only, shared read-only by
	// every response (a one-element slice with no spare capacity, so
	// Header.Add copies instead of writing into it).
	limitHdr  []string // X-RateLimit-Limit
	policyHdr []string // RateLimit-Policy
	rlPrefix  string   // RateLimit up to the remaining count: `"name";r=`
}

func compile(p Policy) compiled {
	c := compiled{p: p, window: p.Rate.Period, sliding: p.Algorithm == SlidingWindow}
	limit := strconv.FormatInt(p.Rate.Limit, 10)
	ms := strconv.FormatInt(p.Rate.Period.Milliseconds(), 10)
	if c.sliding {
		c.suffixes = []string{":s:" + p.Name + ":log", ":s:" + p.Name + ":sum"}
		c.args = [3]any{"1", limit, ms}
	} else {
		c.suffixes = []string{":f:" + p.Name}
		c.args = [3]any{"0", limit, ms}
	}
	c.limitHdr = []string{limit}
	c.policyHdr = []string{string(ratefield.AppendPolicy(nil, p.Name, p.Rate.Limit, p.Rate.Period))}
	c.rlPrefix = string(ratefield.AppendString(nil, p.Name)) + ";r="
	return c
}

func compileAll(ps []Policy) []*compiled {
	out := make([]*compiled, len(ps))
	for i, p := range ps {
		c := compile(p)
		out[i] = &c
	}
	return out
}

// hashTag returns the part of every Redis key of one client: prefix plus
// the client key inside a hash tag, so all of them share a cluster slot.
func hashTag(prefix, key string) string { return prefix + "{" + key + "}" }
