package cachehttp

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/fallback"
	"github.com/redis/go-redis/v9"
)

// optionFields are the field names an options error may name; an error
// must name its own field and no other.
var optionFields = []string{"client", "Prefix", "Name", "MemoryBytes", "Groups", "LeaseTTL", "FillWait",
	"MaxLoadTime", "VersionRefresh", "L1Bytes", "L1TTL", "CoherencePing"}

// checkNames fails unless err wraps ErrInvalidOptions and names field and none
// of the other fields.
func checkNames(t *testing.T, err error, field string, fields []string) {
	t.Helper()
	if !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("error %v does not wrap ErrInvalidOptions", err)
	}
	msg := err.Error()
	if !containsWord(msg, field) {
		t.Fatalf("error %q does not name %s", msg, field)
	}
	for _, f := range fields {
		if f != field && !strings.Contains(field, f) && containsWord(msg, f) {
			t.Fatalf("error %q names %s besides %s", msg, f, field)
		}
	}
}

// containsWord reports whether s contains w not as part of a longer name.
func containsWord(s, w string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		j += i
		end := j + len(w)
		before := j == 0 || !isIdent(s[j-1])
		after := end == len(s) || !isIdent(s[end])
		if before && after {
			return true
		}
		i = j + 1
	}
}

func isIdent(b byte) bool {
	return b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

// New rejects each bad option with an error naming exactly that field, and
// a typed-nil client with an error naming client instead of panicking.
func TestNewBadOptions(t *testing.T) {
	var nilClient *redis.Client
	var nilCluster *redis.ClusterClient
	mon := mustMonitor(fallback.NewMonitor(nil, fallback.MonitorOptions{}))
	defer mon.Close()
	cases := []struct {
		field  string
		client redis.UniversalClient
		o      Options
	}{
		{"client", nilClient, Options{}},
		{"client", nilCluster, Options{}},
		{"client", nilClient, Options{Monitor: mon}},
		{"client", nilClient, Options{Monitor: mon, L1Bytes: 1 << 20}},
		{"Prefix", nil, Options{Prefix: "a{b}"}},
		{"Name", nil, Options{Name: "a;b"}},
		{"MemoryBytes", nil, Options{MemoryBytes: -1}},
		{"Groups", nil, Options{Groups: -1}},
		{"LeaseTTL", nil, Options{LeaseTTL: -time.Second}},
		{"FillWait", nil, Options{FillWait: -time.Second}},
		{"MaxLoadTime", nil, Options{MaxLoadTime: -time.Second}},
		{"VersionRefresh", nil, Options{VersionRefresh: -time.Second}},
		{"L1Bytes", nil, Options{L1Bytes: -1}},
		{"L1TTL", nil, Options{L1TTL: -time.Second}},
		{"CoherencePing", nil, Options{CoherencePing: -time.Second}},
	}
	for _, tc := range cases {
		t.Run(tc.field, func(t *testing.T) {
			c, err := New(tc.client, tc.o)
			if err == nil {
				_ = c.Close()
				t.Fatal("accepted")
			}
			checkNames(t, err, tc.field, optionFields)
		})
	}
	// An untyped nil client is embedded mode.
	c, err := New(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
}

// routeFields are the Route field names a NewRoute error may name.
var routeFields = []string{"Name", "TTL", "Jitter", "StaleWhileRevalidate", "StaleIfError", "MaxBody",
	"MaxRequestBody", "WaitTimeout", "RefreshAhead", "Methods", "Statuses", "Anonymous", "PerUser",
	"PassHeaders", "Vary"}

// NewRoute rejects each bad field with an error naming the route and
// exactly that field.
func TestNewRouteBadOptions(t *testing.T) {
	c := newTestCache(t, nil, "ro:", Options{})
	cases := []struct {
		field string
		rt    Route
	}{
		{"Name", Route{Name: strings.Repeat("n", 256)}},
		{"TTL", Route{TTL: -time.Second}},
		{"TTL", Route{TTL: time.Microsecond}},
		{"Jitter", Route{Jitter: 0.6}},
		{"StaleWhileRevalidate", Route{StaleWhileRevalidate: -time.Second}},
		{"StaleIfError", Route{StaleIfError: -time.Second}},
		{"MaxBody", Route{MaxBody: -1}},
		{"MaxRequestBody", Route{MaxRequestBody: -1}},
		{"WaitTimeout", Route{WaitTimeout: -time.Second}},
		{"RefreshAhead", Route{RefreshAhead: -time.Second}},
		{"RefreshAhead", Route{TTL: time.Second, RefreshAhead: time.Second}},
		{"Methods", Route{Methods: []string{"PUT"}}},
		{"Statuses", Route{Statuses: []int{500}}},
		{"Anonymous", Route{PerUser: true, Anonymous: true}},
		{"PassHeaders", Route{PassHeaders: []string{"Authorization"}}},
		{"PassHeaders", Route{PassHeaders: []string{"cookie"}}},
		{"Vary", Route{Anonymous: true, Vary: []string{"Cookie"}}},
	}
	for _, tc := range cases {
		t.Run(tc.field, func(t *testing.T) {
			_, err := c.NewRoute(tc.rt)
			if err == nil {
				t.Fatal("accepted")
			}
			fields := routeFields
			if tc.field == "Anonymous" {
				fields = nil // the message explains the conflict with PerUser
			}
			if tc.field == "RefreshAhead" {
				fields = slicesWithout(routeFields, "TTL") // compared with TTL
			}
			checkNames(t, err, tc.field, fields)
			if tc.field != "Name" && !strings.Contains(err.Error(), `route "default"`) {
				t.Fatalf("error %q does not name the route", err)
			}
		})
	}
}

func slicesWithout(s []string, v string) []string {
	var out []string
	for _, x := range s {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

// TestNewDoesNoIO checks that New, with every option that starts something
// against Redis (its own monitor, the coherence subscription), returns at
// once when Redis cannot be reached: on a closed loopback port (refused)
// and through a dialer that hangs as a black-holed host does, for the whole
// 2s DialTimeout. Close must not wait for the dial either.
func TestNewDoesNoIO(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()
	stop := make(chan struct{}) // ends the hanging dials when the test is over
	defer close(stop)
	hang := func(ctx context.Context, _, _ string) (net.Conn, error) {
		select {
		case <-ctx.Done():
		case <-stop:
		case <-time.After(2 * time.Second):
		}
		return nil, errors.New("dial timeout")
	}
	for _, tc := range []struct {
		name   string
		dialer func(ctx context.Context, network, addr string) (net.Conn, error)
	}{{"closed-port", nil}, {"hanging-dial", hang}} {
		t.Run(tc.name, func(t *testing.T) {
			client := redis.NewClient(&redis.Options{Addr: closed, Dialer: tc.dialer, DialTimeout: 2 * time.Second,
				MaxRetries: -1, ContextTimeoutEnabled: true})
			defer client.Close()
			for _, o := range []Options{{}, {L1Bytes: 1 << 20}, {Coherence: true}} {
				o.Logger = quiet
				start := time.Now()
				c, err := New(client, o)
				took := time.Since(start)
				if err != nil {
					t.Fatal(err)
				}
				if took > 200*time.Millisecond {
					t.Errorf("New (L1Bytes %d, Coherence %v) took %v against an unreachable Redis", o.L1Bytes, o.Coherence, took)
				}
				_ = c.Close()
			}
		})
	}
}
