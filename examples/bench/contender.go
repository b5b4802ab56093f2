package main

import (
	"context"
	"fmt"
	"net/http"
	"sort"

	"github.com/redis/go-redis/v9"
)

// env is what every contender gets at setup: its own Redis client (with a
// round-trip counting hook), a key prefix unique to this run and contender,
// and the response body to serve.
type env struct {
	client *redis.Client
	prefix string
	body   []byte
}

// contender is one HTTP handler under test.
//
// baseline names the same-work raw-Redis contender it is compared with
// ("" for the raw baselines themselves). ceiling names the bare handler it
// is compared with ("" for "bare"; the weather routes use the one serving
// the weather JSON). path is the request path the load
// generator asks for ("/" when empty). check, when set, validates one
// response body at setup so that a contender that answers quickly with the
// wrong thing cannot win. warm asks for one unchecked request first (over
// the real listener, since cache keys include the host), so that the
// checked response is already a cache hit.
type contender struct {
	order    int
	name     string
	group    string
	baseline string
	ceiling  string
	path     string
	setup    func(ctx context.Context, e env) (http.Handler, func(), error)
	check    func(e env, h http.Header, body []byte) error
	warm     bool
	// minCmds is the fewest Redis commands per request a contender sends
	// when it really does its work (1 for a limiter, 2 for a lock), with or
	// without pipelining. A median below it means the contender served
	// from memory (a failure mode, a fallback) and the table flags the row.
	minCmds float64
}

var registry []contender

func register(c contender) { registry = append(registry, c) }

// ceilingOf is the name of the bare contender c is compared with.
func ceilingOf(c contender) string {
	if c.ceiling != "" {
		return c.ceiling
	}
	return "bare"
}

func sortedContenders() []contender {
	out := append([]contender(nil), registry...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].order < out[j].order })
	return out
}

// writeBody writes b as an octet stream with an explicit length, the way
// every hand-written contender answers.
func writeBody(w http.ResponseWriter, b []byte) {
	h := w.Header()
	h["Content-Type"] = []string{"application/octet-stream"}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// sameBody is the usual check: the response is exactly the configured body.
func sameBody(e env, _ http.Header, b []byte) error {
	if string(b) != string(e.body) {
		return fmt.Errorf("unexpected body (%d bytes): %.120q", len(b), b)
	}
	return nil
}

// noop is the cleanup of contenders that own nothing.
func noop() {}
