package ratelimithttp

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aura-platform/redishttp/internal/optcheck"
	"github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"
)

// Store is a limiter.Store on Redis built on the same script as the
// middleware: fixed or sliding window, Redis's clock, and a request that
// would exceed the limit is not counted (ulule's own Redis store counts
// it). Use it with ulule's limiter.New where a limiter.Store is expected.
type Store struct {
	client redis.UniversalClient
	prefix string
	algo   Algorithm
}

// StoreOptions configures a Store. The zero value is a fixed-window store
// with prefix "rl:".
type StoreOptions struct {
	// Prefix starts every key. Default "rl:". Keys look like
	// "<Prefix>{<key>}:s:<limit>-<period ms>:log". It must not contain
	// braces, glob characters, backslashes or control bytes.
	Prefix string
	// Algorithm is FixedWindow (default) or SlidingWindow.
	Algorithm Algorithm
}

// NewStore returns a Store over client, which must not be nil. Bad options
// give an error wrapping ErrInvalidOptions that names the field: a nil or
// typed-nil client, a Prefix with braces or glob characters, an unknown
// Algorithm (also ErrBadPolicy).
func NewStore(client redis.UniversalClient, opts StoreOptions) (*Store, error) {
	if optcheck.NilClient(client) {
		return nil, fmt.Errorf("%w: client is a nil %T; NewStore needs a connected client", ErrInvalidOptions, client)
	}
	if err := optcheck.Prefix(ErrInvalidOptions, "Prefix", opts.Prefix); err != nil {
		return nil, err
	}
	if opts.Algorithm > SlidingWindow {
		return nil, fmt.Errorf("%w: %w: Algorithm %d is unknown; use FixedWindow or SlidingWindow", ErrInvalidOptions, ErrBadPolicy, opts.Algorithm)
	}
	p := opts.Prefix
	if p == "" {
		p = "rl:"
	}
	return &Store{client: client, prefix: p, algo: opts.Algorithm}, nil
}

func (s *Store) policy(rate limiter.Rate) (*compiled, error) {
	p := Policy{Name: strconv.FormatInt(rate.Limit, 10) + "-" + strconv.FormatInt(rate.Period.Milliseconds(), 10),
		Rate: rate, Algorithm: s.algo}
	if err := p.validate(); err != nil {
		return nil, err
	}
	c := compile(p)
	return &c, nil
}

func (s *Store) run(ctx context.Context, key string, cost int64, rate limiter.Rate) (limiter.Context, State, error) {
	c, err := s.policy(rate)
	if err != nil {
		return limiter.Context{}, State{}, err
	}
	var res Result
	if err := runScript(ctx, s.client, s.prefix, clientKey(key), cost, []*compiled{c}, &res); err != nil {
		return limiter.Context{}, State{}, err
	}
	st := res.States[0]
	return limiter.Context{Limit: st.Limit, Remaining: st.Remaining, Reset: st.Reset.Unix(), Reached: st.Exceeded}, st, nil
}

// Get counts one unit for key and returns the limit context; Reached is
// true, and nothing was counted, when the unit did not fit.
func (s *Store) Get(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	lc, _, err := s.run(ctx, key, 1, rate)
	return lc, err
}

// Increment counts count units (at least 1) for key, only if they all fit.
func (s *Store) Increment(ctx context.Context, key string, count int64, rate limiter.Rate) (limiter.Context, error) {
	lc, _, err := s.run(ctx, key, max(count, 1), rate)
	return lc, err
}

// Peek returns key's limit context without counting; Reached is true when
// no unit is left.
func (s *Store) Peek(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	lc, st, err := s.run(ctx, key, 0, rate)
	lc.Reached = err == nil && st.Remaining == 0
	return lc, err
}

// Reset deletes key's counters for rate.
func (s *Store) Reset(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	c, err := s.policy(rate)
	if err != nil {
		return limiter.Context{}, err
	}
	tag := hashTag(s.prefix, clientKey(key))
	keys := make([]string, len(c.suffixes))
	for i, sfx := range c.suffixes {
		keys[i] = tag + sfx
	}
	if err := s.client.Del(ctx, keys...).Err(); err != nil {
		return limiter.Context{}, err
	}
	return s.Peek(ctx, key, rate)
}

var _ limiter.Store = (*Store)(nil)
