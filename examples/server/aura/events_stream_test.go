package aura_test

import (
	"context"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEventsRouteAcrossInstances: GET /api/events on one instance streams
// the user's invalidations made through any other, never another user's;
// Last-Event-ID resumes without loss, and a resume the log no longer
// covers starts with a gap event.
func TestEventsRouteAcrossInstances(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := start(t, 3, env(tg.Prefix, nil), func() redis.UniversalClient { return tg.NewClient(t) })
		u7 := map[string]string{"X-User-ID": "7"}
		u8 := map[string]string{"X-User-ID": "8"}
		s7 := openStream(t, c.srvs[0].URL, "7", "")
		s8 := openStream(t, c.srvs[0].URL, "8", "")

		require.Equal(t, 200, do(t, "PUT", c.srvs[1].URL+"/api/subscription", `{"plan":"pro"}`, u7).status)
		ev := s7.next(t)
		assert.Equal(t, "tags", ev.Event)
		assert.Equal(t, []string{"user:7"}, ev.Data.Tags)
		assert.NotEmpty(t, ev.ID)

		created := do(t, "POST", c.srvs[2].URL+"/api/auras", `{"name":"dawn"}`, u7)
		require.Equal(t, 201, created.status, string(created.body))
		ev = s7.next(t)
		assert.Equal(t, []string{"auras:7"}, ev.Data.Tags)
		applied := ev.ID

		// Another user's write reaches that user's stream only.
		require.Equal(t, 200, do(t, "PUT", c.srvs[2].URL+"/api/subscription", `{"plan":"pro"}`, u8).status)
		assert.Equal(t, []string{"user:8"}, s8.next(t).Data.Tags)
		// A refused PUT invalidates nothing, so it is no event.
		require.Equal(t, 422, do(t, "PUT", c.srvs[1].URL+"/api/subscription", `{"plan":"Not A Plan"}`, u7).status)
		require.Equal(t, 200, do(t, "PUT", c.srvs[1].URL+"/api/subscription", `{"plan":"free"}`, u7).status)
		ev = s7.next(t)
		assert.Equal(t, []string{"user:7"}, ev.Data.Tags, "user 8's event or a refused write leaked into user 7's stream")
		s7.none(t, 100*time.Millisecond)
		s8.none(t, 100*time.Millisecond)
		s7.close()

		// Resuming on another instance from the last event applied.
		require.Equal(t, 200, do(t, "PUT", c.srvs[0].URL+"/api/subscription", `{"plan":"pro"}`, u7).status)
		r := openStream(t, c.srvs[1].URL, "7", applied)
		assert.Equal(t, []string{"user:7"}, r.next(t).Data.Tags) // the PUT seen before
		assert.Equal(t, []string{"user:7"}, r.next(t).Data.Tags) // the PUT made while away
		r.none(t, 100*time.Millisecond)

		// The log trimmed past the position: a gap event first.
		require.NoError(t, tg.Client.XTrimMaxLen(context.Background(), tg.Prefix+"cache:{inv}log", 0).Err())
		g := openStream(t, c.srvs[2].URL, "7", applied)
		ev = g.next(t)
		assert.Equal(t, "gap", ev.Event)
		assert.NotEmpty(t, ev.ID)
		require.Equal(t, 200, do(t, "PUT", c.srvs[0].URL+"/api/subscription", `{"plan":"free"}`, u7).status)
		assert.Equal(t, []string{"user:7"}, g.next(t).Data.Tags)
	})
}

func (s *sseStream) next(t *testing.T) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		require.True(t, ok, "the stream ended")
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return sseEvent{}
}

func (s *sseStream) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case ev := <-s.events:
		t.Fatalf("unexpected event %+v", ev)
	case <-time.After(d):
	}
}
