package aura

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/aura-platform/redishttp/cachehttp"
	"github.com/aura-platform/redishttp/middleware"
)

// eventsHeartbeat is how often an idle event stream sends a comment line,
// so proxies and clients keep the connection open.
const eventsHeartbeat = 15 * time.Second

// eventsRetryMillis is the reconnection delay the stream suggests to
// EventSource clients.
const eventsRetryMillis = 2000

// userEventTags are the tags the demo invalidates for user u: PUT
// /api/subscription invalidates "user:<u>", POST and DELETE /api/auras
// "auras:<u>".
func userEventTags(u string) []string { return []string{"user:" + u, "auras:" + u} }

// streamEvent is the data line of one server-sent event.
type streamEvent struct {
	Kind string   `json:"kind"`
	Tags []string `json:"tags,omitempty"`
}

// handleEvents is GET /api/events: the current user's invalidation events
// as server-sent events. Each event's id is its position in the cache's
// invalidation log; a client reconnecting with Last-Event-ID resumes after
// it, and gets a "gap" event first when the log no longer holds what
// followed (reload everything then). Only the user's own tags are
// delivered, whichever instance invalidated them. A comment line is sent
// every 15 s while nothing happens; the stream ends when the client goes
// away or the server shuts down.
func (a *App) handleEvents(w http.ResponseWriter, r *http.Request) {
	user, ok := requireUser(w, r)
	if !ok {
		return
	}
	sub, err := a.cache.Events(r.Context(), cachehttp.EventsOptions{
		From: r.Header.Get("Last-Event-ID"),
		Tags: userEventTags(user),
	})
	switch {
	case errors.Is(err, cachehttp.ErrNoEvents):
		middleware.Error(w, r, http.StatusNotImplemented, "live events need Redis (set REDIS_URL)")
		return
	case errors.Is(err, cachehttp.ErrInvalidOptions):
		middleware.Error(w, r, http.StatusBadRequest, "Last-Event-ID is not an event id")
		return
	case err != nil:
		storeUnavailable(w, r, "event log unavailable")
		return
	}
	defer sub.Close()

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(a.shutdown.of(r), cancel)
	defer stop()

	rc := http.NewResponseController(w)
	// The server's read and write timeouts are for ordinary requests;
	// a stream sets its own write deadline before each write.
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	last := time.Now()
	write := func(s string) bool {
		last = time.Now()
		_ = rc.SetWriteDeadline(last.Add(eventsHeartbeat + 10*time.Second))
		if _, err := fmt.Fprint(w, s); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write(fmt.Sprintf("retry: %d\n: invalidation events\n\n", eventsRetryMillis)) {
		return
	}
	failing := false
	for {
		wctx, wcancel := context.WithTimeout(ctx, eventsHeartbeat)
		ev, err := sub.Next(wctx)
		wcancel()
		if ctx.Err() != nil {
			return
		}
		var out string
		switch {
		case err == nil:
			failing = false
			data, _ := json.Marshal(streamEvent{Kind: ev.Kind.String(), Tags: ev.Tags})
			out = fmt.Sprintf("id: %s\nevent: %s\ndata: %s\n\n", ev.ID, ev.Kind, data)
		case errors.Is(err, context.DeadlineExceeded):
			out = ": heartbeat\n\n"
		case errors.Is(err, cachehttp.ErrClosed):
			return // the instance is closing
		default:
			// Redis is unreachable: the next Next waits a backoff and
			// resumes (with a gap event when something was lost).
			if !failing {
				a.log.Warn("events stream: reading the invalidation log failed", "error", err)
			}
			failing = true
			if time.Since(last) < eventsHeartbeat {
				continue
			}
			out = ": heartbeat\n\n"
		}
		if !write(out) {
			return
		}
	}
}

// shutdowns ends the event streams of a server that shuts down: an
// http.Server's Shutdown waits for active connections, which a stream
// never leaves by itself.
type shutdowns struct {
	mu sync.Mutex
	m  map[*http.Server]context.Context
}

// of returns a context cancelled when the server serving r shuts down
// (never, for a request not served by an http.Server).
func (s *shutdowns) of(r *http.Request) context.Context {
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	if srv == nil {
		return context.Background()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ctx, ok := s.m[srv]; ok {
		return ctx
	}
	if s.m == nil {
		s.m = make(map[*http.Server]context.Context)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv.RegisterOnShutdown(cancel)
	s.m[srv] = ctx
	return ctx
}
