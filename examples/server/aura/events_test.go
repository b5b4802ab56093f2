package aura_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/examples/server/aura"
	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sseEvent is one server-sent event as a client parses it.
type sseEvent struct {
	ID, Event string
	Data      struct {
		Kind string   `json:"kind"`
		Tags []string `json:"tags"`
	}
}

// sseStream reads GET /api/events as a client does, until closed.
type sseStream struct {
	res    *http.Response
	events chan sseEvent
	cancel context.CancelFunc
}

func openStream(t *testing.T, url, user, lastID string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", url+"/api/events", nil)
	require.NoError(t, err)
	req.Header.Set("X-User-ID", user)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, 200, res.StatusCode)
	require.Equal(t, "text/event-stream", res.Header.Get("Content-Type"))
	s := &sseStream{res: res, events: make(chan sseEvent, 64), cancel: cancel}
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(res.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Event != "" {
					s.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.ID = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.Event = line[7:]
			case strings.HasPrefix(line, "data: "):
				_ = json.Unmarshal([]byte(line[6:]), &ev.Data)
			}
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *sseStream) close() {
	s.cancel()
	_ = s.res.Body.Close()
}

// TestEventsRouteRefusals: no user is 401, a malformed Last-Event-ID is
// 400, and embedded mode (no shared log) is 501.
func TestEventsRouteRefusals(t *testing.T) {
	tg := redistest.New(t)
	c := start(t, 1, env(tg.Prefix, nil), func() redis.UniversalClient { return tg.NewClient(t) })
	assert.Equal(t, 401, do(t, "GET", c.srvs[0].URL+"/api/events", "", nil).status)
	assert.Equal(t, 400, do(t, "GET", c.srvs[0].URL+"/api/events", "", map[string]string{"X-User-ID": "7", "Last-Event-ID": "nope"}).status)

	m := start(t, 1, env(tg.Prefix, nil), func() redis.UniversalClient { return nil })
	assert.Equal(t, 501, do(t, "GET", m.srvs[0].URL+"/api/events", "", map[string]string{"X-User-ID": "7"}).status)
}

// TestEventsRouteEndsOnShutdown: a server's Shutdown ends the open event
// streams instead of waiting for their clients.
func TestEventsRouteEndsOnShutdown(t *testing.T) {
	tg := redistest.New(t)
	cfg, err := aura.LoadConfig(env(tg.Prefix, nil))
	require.NoError(t, err)
	app, err := aura.NewWithClient(cfg, tg.NewClient(t), quietLogger())
	require.NoError(t, err)
	defer app.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := aura.NewServer(ln.Addr().String(), app.Handler())
	go func() { _ = srv.Serve(ln) }()
	s := openStream(t, "http://"+ln.Addr().String(), "7", "")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, srv.Shutdown(ctx), "Shutdown waited for the stream")
	select {
	case _, ok := <-s.events:
		assert.False(t, ok, "the stream ended")
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not end")
	}
}
