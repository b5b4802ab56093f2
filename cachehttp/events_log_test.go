package cachehttp

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// nextEvent returns the next event, failing the test after 10 s.
func nextEvent(t *testing.T, e *Events) Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		ev, err := e.Next(ctx)
		if err == nil {
			return ev
		}
		if ctx.Err() != nil {
			t.Fatalf("no event within 10s: %v", err)
		}
		// A Redis error: Next retries after its backoff.
	}
}

// noEvent asserts that no event arrives within d.
func noEvent(t *testing.T, e *Events, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	ev, err := e.Next(ctx)
	if err == nil {
		t.Fatalf("unexpected event %+v", ev)
	}
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func openEvents(t *testing.T, c *Cache, o EventsOptions) *Events {
	t.Helper()
	e, err := c.Events(context.Background(), o)
	require.NoError(t, err)
	t.Cleanup(e.Close)
	return e
}

// twoCaches returns two instances on separate clients sharing tg's Redis
// and prefix; the first has coherence on (its stores log overwrites).
func twoCaches(t *testing.T, tg redistest.Target) (a, b *Cache) {
	a = newTestCache(t, tg.Client, tg.Prefix, Options{Coherence: true})
	b = newTestCache(t, tg.NewClient(t), tg.Prefix, Options{})
	return a, b
}

// TestEventsDelivery: one instance's invalidations of every kind reach a
// subscription opened on another, in order, with the logical names the
// application used.
func TestEventsDelivery(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		a, b := twoCaches(t, tg)
		ctx := context.Background()
		e := openEvents(t, a, EventsOptions{})

		_, err := b.InvalidateTags(ctx, "user:1", "auras:1")
		require.NoError(t, err)
		ev := nextEvent(t, e)
		assert.Equal(t, EventTags, ev.Kind)
		assert.Equal(t, []string{"user:1", "auras:1"}, ev.Tags)
		assert.NotEmpty(t, ev.ID)

		_, err = b.Delete(ctx, "profile:1", "a key/with spaces")
		require.NoError(t, err)
		ev = nextEvent(t, e)
		assert.Equal(t, EventKeys, ev.Kind, "a Delete's internal variant tags are not an event")
		assert.ElementsMatch(t, []string{"profile:1", "a key/with spaces"}, ev.Keys)

		_, err = b.InvalidatePattern(ctx, "weather:*")
		require.NoError(t, err)
		ev = nextEvent(t, e)
		assert.Equal(t, EventPattern, ev.Kind)
		assert.Equal(t, "weather:*", ev.Pattern)

		v, err := b.BumpVersion(ctx, "catalog")
		require.NoError(t, err)
		ev = nextEvent(t, e)
		assert.Equal(t, EventNamespace, ev.Kind)
		assert.Equal(t, "catalog", ev.Namespace)
		assert.Equal(t, v, ev.Version)

		_, err = b.SoftPurgeTags(ctx, "news")
		require.NoError(t, err)
		ev = nextEvent(t, e)
		assert.Equal(t, EventTags, ev.Kind)
		assert.Equal(t, []string{"news"}, ev.Tags)
		last := ev.ID

		// A store by the instance with coherence on is an overwrite.
		require.NoError(t, Set(ctx, a, "profile:2", "v", time.Minute))
		ev = nextEvent(t, e)
		assert.Equal(t, EventOverwrite, ev.Kind)
		assert.Equal(t, []string{"profile:2"}, ev.Keys)
		assert.Equal(t, 1, cmpID(ev.ID, last), "IDs increase")
	})
}

// TestEventsFilters: with Tags and Namespaces set, only matching tag and
// namespace events are delivered, reduced to the matching tags.
func TestEventsFilters(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		a, b := twoCaches(t, tg)
		ctx := context.Background()
		e := openEvents(t, a, EventsOptions{Tags: []string{"user:1", "auras:1"}, Namespaces: []string{"plans"}})
		all := openEvents(t, a, EventsOptions{})

		steps := []func() error{
			func() error { _, err := b.InvalidateTags(ctx, "user:2"); return err },
			func() error { _, err := b.InvalidateTags(ctx, "user:2", "user:1"); return err },
			func() error { _, err := b.BumpVersion(ctx, "other"); return err },
			func() error { _, err := b.InvalidatePattern(ctx, "user:*"); return err },
			func() error { _, err := b.Delete(ctx, "subscription:1"); return err },
			func() error { return Set(ctx, a, "subscription:1", "x", time.Minute) },
			func() error { _, err := b.BumpVersion(ctx, "plans"); return err },
			func() error { _, err := b.SoftPurgeTags(ctx, "auras:1"); return err },
		}
		for _, s := range steps {
			require.NoError(t, s())
		}
		// The unfiltered subscription sees all eight.
		for i := range steps {
			nextEvent(t, all)
			_ = i
		}
		ev := nextEvent(t, e)
		assert.Equal(t, EventTags, ev.Kind)
		assert.Equal(t, []string{"user:1"}, ev.Tags, "another user's tag is not shown")
		ev = nextEvent(t, e)
		assert.Equal(t, EventNamespace, ev.Kind)
		assert.Equal(t, "plans", ev.Namespace)
		ev = nextEvent(t, e)
		assert.Equal(t, EventTags, ev.Kind)
		assert.Equal(t, []string{"auras:1"}, ev.Tags)
		noEvent(t, e, 200*time.Millisecond)
	})
}

// TestEventsResume: a subscription resumed from the ID of the last event
// applied gets every later event once, in order, and no gap.
func TestEventsResume(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		a, b := twoCaches(t, tg)
		ctx := context.Background()
		e := openEvents(t, a, EventsOptions{})
		for i := range 3 {
			_, err := b.InvalidateTags(ctx, "t"+strconv.Itoa(i))
			require.NoError(t, err)
		}
		var ids []string
		for range 3 {
			ids = append(ids, nextEvent(t, e).ID)
		}
		e.Close()
		_, err := e.Next(ctx)
		require.ErrorIs(t, err, ErrClosed)

		for i := 3; i < 6; i++ {
			_, err := b.InvalidateTags(ctx, "t"+strconv.Itoa(i))
			require.NoError(t, err)
		}
		// The consumer applied t0 and t1 only.
		r := openEvents(t, b, EventsOptions{From: ids[1]})
		for i := 2; i < 6; i++ {
			ev := nextEvent(t, r)
			require.Equal(t, EventTags, ev.Kind, "event %d", i)
			assert.Equal(t, []string{"t" + strconv.Itoa(i)}, ev.Tags)
			if i == 2 {
				assert.Equal(t, ids[2], ev.ID)
			}
		}
		noEvent(t, r, 200*time.Millisecond)

		// "0": everything the log holds, without a gap.
		z := openEvents(t, b, EventsOptions{From: "0"})
		for i := range 6 {
			ev := nextEvent(t, z)
			require.Equal(t, EventTags, ev.Kind, "event %d", i)
			assert.Equal(t, []string{"t" + strconv.Itoa(i)}, ev.Tags)
		}

		// A subscription at the end sees only what follows.
		n := openEvents(t, b, EventsOptions{})
		_, err = a.InvalidateTags(ctx, "later")
		require.NoError(t, err)
		assert.Equal(t, []string{"later"}, nextEvent(t, n).Tags)
	})
}

// TestEventsGapAfterTrim: when the log no longer holds what followed
// From, the first event is a gap and events continue from the log's end;
// a position at the end of a trimmed log is no gap.
func TestEventsGapAfterTrim(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		a, b := twoCaches(t, tg)
		ctx := context.Background()
		logKey, _ := eventsKeys(a.l)
		e := openEvents(t, a, EventsOptions{})
		_, err := b.InvalidateTags(ctx, "t0")
		require.NoError(t, err)
		applied := nextEvent(t, e).ID
		for i := 1; i < 4; i++ {
			_, err := b.InvalidateTags(ctx, "t"+strconv.Itoa(i))
			require.NoError(t, err)
		}
		end := ""
		for range 3 {
			end = nextEvent(t, e).ID
		}
		require.NoError(t, tg.Client.XTrimMaxLen(ctx, logKey, 0).Err())

		g := openEvents(t, b, EventsOptions{From: applied})
		ev := nextEvent(t, g)
		require.Equal(t, EventGap, ev.Kind)
		assert.Equal(t, end, ev.ID, "events continue from the log's end")
		_, err = b.InvalidateTags(ctx, "after")
		require.NoError(t, err)
		ev = nextEvent(t, g)
		assert.Equal(t, EventTags, ev.Kind)
		assert.Equal(t, []string{"after"}, ev.Tags)

		// The live subscription was at the end: no gap for it.
		ev = nextEvent(t, e)
		assert.Equal(t, []string{"after"}, ev.Tags)

		// Resuming from the end of an emptied log is no gap either.
		require.NoError(t, tg.Client.XTrimMaxLen(ctx, logKey, 0).Err())
		r := openEvents(t, b, EventsOptions{From: ev.ID})
		_, err = b.InvalidateTags(ctx, "next")
		require.NoError(t, err)
		ev = nextEvent(t, r)
		assert.Equal(t, EventTags, ev.Kind)
		assert.Equal(t, []string{"next"}, ev.Tags)

		// A subscription started at an emptied log's end, whose entries
		// are trimmed while it is disconnected, reports a gap on reconnect.
		s := openEvents(t, b, EventsOptions{})
		ev2, err := s.Next(timeoutCtx(t, 50*time.Millisecond))
		require.ErrorIs(t, err, context.DeadlineExceeded, "%+v", ev2)
		s.dropConn() // the read in flight fails: the next one checks the position
		_, err = s.Next(timeoutCtx(t, 10*time.Second))
		require.Error(t, err)
		_, err = b.InvalidateTags(ctx, "lost")
		require.NoError(t, err)
		require.NoError(t, tg.Client.XTrimMaxLen(ctx, logKey, 0).Err())
		ev = nextEvent(t, s)
		assert.Equal(t, EventGap, ev.Kind)
	})
}

func timeoutCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestEventsGapAfterDataLoss: Redis losing its data (simulated by deleting
// this cache's log and epoch, as a restart with an empty data set does) is
// a gap on the next read, even when the log was re-created meanwhile.
func TestEventsGapAfterDataLoss(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		a, b := twoCaches(t, tg)
		ctx := context.Background()
		logKey, epochKey := eventsKeys(a.l)
		e := openEvents(t, a, EventsOptions{})
		_, err := b.InvalidateTags(ctx, "t0")
		require.NoError(t, err)
		applied := nextEvent(t, e).ID

		// The subscription's connection drops while Redis restarts empty
		// and another instance writes again.
		_, err = e.Next(timeoutCtx(t, 50*time.Millisecond))
		require.ErrorIs(t, err, context.DeadlineExceeded)
		e.dropConn()
		_, err = e.Next(timeoutCtx(t, 10*time.Second))
		require.Error(t, err)
		require.NoError(t, tg.Client.Del(ctx, logKey).Err())
		require.NoError(t, tg.Client.Del(ctx, epochKey).Err())
		_, err = b.InvalidateTags(ctx, "t1")
		require.NoError(t, err)

		ev := nextEvent(t, e)
		require.Equal(t, EventGap, ev.Kind)
		_, err = b.InvalidateTags(ctx, "t2")
		require.NoError(t, err)
		assert.Equal(t, []string{"t2"}, nextEvent(t, e).Tags)

		// A consumer resuming from a position in the lost log: a gap.
		r := openEvents(t, b, EventsOptions{From: applied})
		assert.Equal(t, EventGap, nextEvent(t, r).Kind)

		// The log gone altogether: a gap too.
		require.NoError(t, tg.Client.Del(ctx, logKey).Err())
		r2 := openEvents(t, b, EventsOptions{From: applied})
		assert.Equal(t, EventGap, nextEvent(t, r2).Kind)
	})
}

// TestEventsNextContextAndClose: a cancelled ctx ends Next at once without
// losing the read in flight; Close (or the cache's Close) ends a waiting
// Next with ErrClosed.
func TestEventsNextContextAndClose(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		a, b := twoCaches(t, tg)
		ctx := context.Background()
		e := openEvents(t, a, EventsOptions{})

		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { _, err := e.Next(cctx); done <- err }()
		time.Sleep(20 * time.Millisecond)
		cancel()
		select {
		case err := <-done:
			require.ErrorIs(t, err, context.Canceled)
		case <-time.After(5 * time.Second):
			t.Fatal("Next did not return after its ctx was cancelled")
		}
		_, err := b.InvalidateTags(ctx, "x")
		require.NoError(t, err)
		assert.Equal(t, []string{"x"}, nextEvent(t, e).Tags, "the read in flight is picked up")

		go func() { _, err := e.Next(ctx); done <- err }()
		time.Sleep(20 * time.Millisecond)
		e.Close()
		select {
		case err := <-done:
			require.ErrorIs(t, err, ErrClosed)
		case <-time.After(5 * time.Second):
			t.Fatal("Next did not return after Close")
		}
		e.Close() // idempotent
		_, err = e.Next(ctx)
		require.ErrorIs(t, err, ErrClosed)

		// The cache's Close ends its subscriptions.
		c := newTestCache(t, tg.NewClient(t), tg.Prefix, Options{})
		s := openEvents(t, c, EventsOptions{})
		go func() { _, err := s.Next(ctx); done <- err }()
		time.Sleep(20 * time.Millisecond)
		require.NoError(t, c.Close())
		select {
		case err := <-done:
			require.ErrorIs(t, err, ErrClosed)
		case <-time.After(5 * time.Second):
			t.Fatal("Next did not return after the cache's Close")
		}
		_, err = c.Events(ctx, EventsOptions{})
		require.ErrorIs(t, err, ErrClosed)
	})
}
