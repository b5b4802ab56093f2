package cachehttp

import (
	"context"
	"errors"
	"testing"

	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEventsOptionsAndEmbedded: a malformed From is refused; embedded mode
// has no log.
func TestEventsOptionsAndEmbedded(t *testing.T) {
	mem := newTestCache(t, nil, "ev:", Options{})
	_, err := mem.Events(context.Background(), EventsOptions{})
	require.ErrorIs(t, err, ErrNoEvents)

	tg := redistest.New(t)
	c := newTestCache(t, tg.Client, tg.Prefix, Options{})
	for _, from := range []string{"x", "1-", "-1", "1-2-3", "$", ">"} {
		_, err := c.Events(context.Background(), EventsOptions{From: from})
		require.ErrorIs(t, err, ErrInvalidOptions, from)
	}
	for _, from := range []string{"0", "0-0", "1764504000000", "1764504000000-3"} {
		e, err := c.Events(context.Background(), EventsOptions{From: from})
		require.NoError(t, err, from)
		e.Close()
	}
}

// TestParseEvent decodes log messages: internal tags dropped, physical
// names mapped back to logical keys, anything unreadable a flush.
func TestParseEvent(t *testing.T) {
	c := newTestCache(t, nil, "p:", Options{})
	esc := escapeKey("user data/1")
	hname := c.l.key(kindHTTP, esc+"|u42|v0123").name
	dname := c.l.key(kindData, esc).name
	long := c.l.key(kindData, escapeKey(string(make([]byte, 600)))).name

	ev := c.parseEvent(encodeMsg(msgKeys, []string{hname, dname, long, "foreign:key"}))
	assert.Equal(t, Event{Kind: EventKeys, Keys: []string{"user data/1"}}, ev)
	ev = c.parseEvent(encodeMsg(msgTags, []string{variantTag(esc), "user:1"}))
	assert.Equal(t, Event{Kind: EventTags, Tags: []string{"user:1"}}, ev)
	ev = c.parseEvent([]byte(overwriteMsg("ch", "abcdefghijkl", dname)))
	assert.Equal(t, Event{Kind: EventOverwrite, Keys: []string{"user data/1"}}, ev)
	ev = c.parseEvent(encodeMsg(msgVersion, []string{"ns", "7"}))
	assert.Equal(t, Event{Kind: EventNamespace, Namespace: "ns", Version: 7}, ev)
	for _, bad := range [][]byte{nil, {msgOverwrite, 'x'}, {msgTags, 5}, encodeMsg(msgVersion, []string{"ns", "x"}),
		encodeMsg(msgPattern, nil), encodeMsg('?', nil), encodeMsg(msgFlush, nil)} {
		assert.Equal(t, EventFlush, c.parseEvent(bad).Kind, "%q", bad)
	}
	for k := EventGap; k <= EventFlush; k++ {
		assert.NotEqual(t, "unknown", k.String())
	}
	assert.Equal(t, "unknown", EventKind(0).String())
	assert.True(t, errors.Is(ErrNoEvents, ErrNoEvents))
}
