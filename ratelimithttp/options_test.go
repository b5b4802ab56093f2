package ratelimithttp

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/fallback"
	"github.com/redis/go-redis/v9"
)

// TestNewRejectsEachBadField: one row per field; each bad field alone gives
// an error wrapping ErrInvalidOptions (and ErrBadPolicy for a bad policy)
// that names that field, never a panic.
func TestNewRejectsEachBadField(t *testing.T) {
	var typedNil *redis.Client
	one := []Policy{{Name: "a", Rate: rate(1, time.Second)}}
	cases := []struct {
		field  string
		client redis.UniversalClient
		opts   Options
		also   error
	}{
		{"client", typedNil, Options{Policies: one}, nil},
		{"Policies", nil, Options{}, nil},
		{"Policies", nil, Options{Policies: []Policy{{Name: "a{b}", Rate: rate(1, time.Second)}}}, ErrBadPolicy},
		{"Policies", nil, Options{Policies: []Policy{{Name: "a", Rate: rate(1, -time.Second)}}}, ErrBadPolicy},
		{"Tiers", nil, Options{Tiers: map[string][]Policy{"pro": nil}}, nil},
		{"Tiers", nil, Options{Tiers: map[string][]Policy{"pro": {{Name: "", Rate: rate(1, time.Second)}}}}, ErrBadPolicy},
		{"Prefix", nil, Options{Policies: one, Prefix: "rl:{x}:"}, nil},
		{"Prefix", nil, Options{Policies: one, Prefix: "rl}"}, nil},
		{"Prefix", nil, Options{Policies: one, Prefix: "rl:*"}, nil},
		{"Prefix", nil, Options{Policies: one, Prefix: "rl:[ab]"}, nil},
		{"OnFailure", nil, Options{Policies: one, OnFailure: 9}, nil},
		{"RetryAfter", nil, Options{Policies: one, RetryAfter: -time.Second}, nil},
		{"MemoryBytes", nil, Options{Policies: one, MemoryBytes: -1}, nil},
	}
	for _, c := range cases {
		t.Run(c.field, func(t *testing.T) {
			l, err := New(c.client, c.opts)
			if err == nil {
				_ = l.Close()
				t.Fatalf("New accepted a bad %s: %+v", c.field, c.opts)
			}
			if !errors.Is(err, ErrInvalidOptions) {
				t.Errorf("error does not wrap ErrInvalidOptions: %v", err)
			}
			if c.also != nil && !errors.Is(err, c.also) {
				t.Errorf("error does not wrap %v: %v", c.also, err)
			}
			if !strings.Contains(err.Error(), c.field) {
				t.Errorf("error does not name %s: %v", c.field, err)
			}
		})
	}
	// The untyped nil client is embedded mode, not an error.
	l, err := New(nil, Options{Policies: one, Prefix: "rl:ok:", RetryAfter: 0})
	if err != nil {
		t.Fatalf("embedded mode: %v", err)
	}
	_ = l.Close()
	// Zero values resolve to the documented defaults.
	if l.opts.OnFailure != fallback.UseMemory || l.opts.RetryAfter != time.Second || l.opts.Prefix != "rl:ok:" || l.opts.Route != "ratelimit" {
		t.Errorf("defaults: OnFailure %v, RetryAfter %v, Prefix %q, Route %q", l.opts.OnFailure, l.opts.RetryAfter, l.opts.Prefix, l.opts.Route)
	}
}

func TestNewStoreRejectsEachBadField(t *testing.T) {
	var typedNil *redis.Client
	live := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	defer live.Close()
	cases := []struct {
		field  string
		client redis.UniversalClient
		opts   StoreOptions
		also   error
	}{
		{"client", nil, StoreOptions{}, nil},
		{"client", typedNil, StoreOptions{}, nil},
		{"Prefix", live, StoreOptions{Prefix: "rl:{x}"}, nil},
		{"Prefix", live, StoreOptions{Prefix: "rl:?"}, nil},
		{"Algorithm", live, StoreOptions{Algorithm: 7}, ErrBadPolicy},
	}
	for _, c := range cases {
		t.Run(c.field, func(t *testing.T) {
			_, err := NewStore(c.client, c.opts)
			if err == nil {
				t.Fatalf("NewStore accepted a bad %s: %+v", c.field, c.opts)
			}
			if !errors.Is(err, ErrInvalidOptions) || c.also != nil && !errors.Is(err, c.also) {
				t.Errorf("error wraps the wrong sentinels: %v", err)
			}
			if !strings.Contains(err.Error(), c.field) {
				t.Errorf("error does not name %s: %v", c.field, err)
			}
		})
	}
	if _, err := NewStore(live, StoreOptions{Prefix: "rl:ok:"}); err != nil {
		t.Errorf("good options: %v", err)
	}
}
