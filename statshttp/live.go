package statshttp

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aura-platform/redishttp/middleware"
)

// The stream StatsHandler serves to a request that accepts
// text/event-stream: one "data:" event with the report JSON when the
// stream opens and whenever the report changes, a comment line when
// nothing was sent for liveHeartbeat, and the end of the stream after
// liveLifetime, so that the client reconnects and its credentials are
// checked again.
const (
	liveHeartbeat = 15 * time.Second
	liveLifetime  = 10 * time.Minute
	liveWriteWait = 10 * time.Second // a client that takes longer to accept an event is dropped
)

// liveHub builds the report for every open stream at once: while at least
// one stream is open, one goroutine builds it every FlushInterval (the
// Redis reads of one JSON request) and wakes each stream when it differs
// from the last one, whatever the number of streams. With no stream open
// it stops and costs nothing.
type liveHub struct {
	r         *Recorder
	every     time.Duration
	heartbeat time.Duration
	lifetime  time.Duration

	mu      sync.Mutex
	subs    map[*liveSub]struct{}
	running bool
	data    []byte // the last report sent (JSON); never modified once stored
	key     []byte // the same report without the times that change at every build
	seq     uint64 // counts the reports stored

	builds atomic.Int64  // reports built, for tests
	wake   chan struct{} // the last stream left
	closed chan struct{} // the Recorder was closed
	once   sync.Once
	wg     sync.WaitGroup
}

// liveSub is one open stream; ch (capacity 1) says a newer report is
// stored, so a slow client skips to the latest one instead of queueing.
type liveSub struct{ ch chan struct{} }

func newLiveHub(r *Recorder) *liveHub {
	return &liveHub{r: r, every: r.cfg.FlushInterval, heartbeat: liveHeartbeat, lifetime: liveLifetime,
		subs: map[*liveSub]struct{}{}, wake: make(chan struct{}, 1), closed: make(chan struct{})}
}

// subscribe registers a stream and starts the builder if it was stopped.
// It reports false once the Recorder is closed.
func (h *liveHub) subscribe() (*liveSub, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.closed:
		return nil, false
	default:
	}
	s := &liveSub{ch: make(chan struct{}, 1)}
	h.subs[s] = struct{}{}
	switch {
	case h.running && h.data != nil: // at most one interval old: send it at once
		s.ch <- struct{}{}
	case !h.running:
		h.running = true
		h.data, h.key = nil, nil
		select {
		case <-h.wake: // left over from the last stop
		default:
		}
		h.wg.Add(1)
		go h.run()
	}
	return s, true
}

func (h *liveHub) unsubscribe(s *liveSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, s)
	if len(h.subs) == 0 {
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
}

// latest returns the last report stored and its number.
func (h *liveHub) latest() ([]byte, uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.data, h.seq
}

// run builds a report at once and then every interval until no stream is
// left or the Recorder is closed.
func (h *liveHub) run() {
	defer h.wg.Done()
	t := time.NewTicker(h.every)
	defer t.Stop()
	for {
		h.store(h.build())
		select {
		case <-t.C:
		case <-h.wake:
		case <-h.closed:
		}
		h.mu.Lock()
		stop := len(h.subs) == 0
		select {
		case <-h.closed:
			stop = true
		default:
		}
		if stop {
			h.running = false
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
	}
}

// build returns the report as JSON, and as the key that tells a change:
// the same JSON without the build time and this instance's "last seen",
// which change at every build.
func (h *liveHub) build() (data, key []byte) {
	h.builds.Add(1)
	rep := h.r.report(context.Background())
	data, err := json.Marshal(rep)
	if err != nil { // only plain fields: cannot happen
		return nil, nil
	}
	rep.Timestamp = time.Time{}
	for i := range rep.Instances {
		if rep.Instances[i].Self {
			rep.Instances[i].LastSeen = time.Time{}
		}
	}
	key, _ = json.Marshal(rep)
	return data, key
}

// store keeps a report that differs from the last one and wakes every
// stream.
func (h *liveHub) store(data, key []byte) {
	if data == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.data != nil && bytes.Equal(key, h.key) {
		return
	}
	h.data, h.key = data, key
	h.seq++
	for s := range h.subs {
		select {
		case s.ch <- struct{}{}:
		default:
		}
	}
}

// close ends every stream and waits for the builder to stop.
func (h *liveHub) close() {
	h.once.Do(func() {
		h.mu.Lock()
		close(h.closed)
		h.mu.Unlock()
	})
	h.wg.Wait()
}

// wantsStream reports whether the request accepts text/event-stream (an
// EventSource always sends exactly that).
func wantsStream(req *http.Request) bool {
	for _, v := range req.Header.Values("Accept") {
		for part := range strings.SplitSeq(v, ",") {
			typ, _, _ := strings.Cut(part, ";")
			if strings.EqualFold(strings.TrimSpace(typ), "text/event-stream") {
				return true
			}
		}
	}
	return false
}

// serveLive streams the report as server-sent events until the client
// goes away, the stream's lifetime ends or the Recorder is closed.
func (r *Recorder) serveLive(w http.ResponseWriter, req *http.Request) {
	h := r.live
	sub, ok := h.subscribe()
	if !ok {
		w.Header().Set("Retry-After", "1")
		middleware.Error(w, req, http.StatusServiceUnavailable, "the stats recorder is shut down")
		return
	}
	defer h.unsubscribe(sub)

	rc := http.NewResponseController(w)
	// A server's ReadTimeout and WriteTimeout are meant for one request,
	// not a stream: lift them, and bound each write instead.
	_ = rc.SetReadDeadline(time.Time{})
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Accel-Buffering", "no") // nginx: pass events on at once
	hdr.Set("Vary", "Accept")
	w.WriteHeader(http.StatusOK)
	send := func(parts ...[]byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(liveWriteWait))
		for _, p := range parts {
			if _, err := w.Write(p); err != nil {
				return false
			}
		}
		return rc.Flush() == nil
	}
	if !send([]byte("retry: " + strconv.FormatInt(r.cfg.RefreshInterval.Milliseconds(), 10) + "\n\n")) {
		return
	}

	beat := time.NewTicker(h.heartbeat)
	defer beat.Stop()
	end := time.NewTimer(h.lifetime)
	defer end.Stop()
	var sent uint64
	for {
		select {
		case <-sub.ch:
			data, seq := h.latest()
			if data == nil || seq == sent {
				continue
			}
			sent = seq
			if !send([]byte("data: "), data, []byte("\n\n")) {
				return
			}
			beat.Reset(h.heartbeat)
		case <-beat.C:
			if !send([]byte(": heartbeat\n\n")) {
				return
			}
		case <-end.C:
			return
		case <-req.Context().Done():
			return
		case <-h.closed:
			return
		}
	}
}
