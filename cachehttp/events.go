package cachehttp

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aura-platform/redishttp/fallback"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// ErrNoEvents is returned by Events when the cache has no Redis client
// (embedded mode) or its client is a kind that cannot read the invalidation
// log (a *redis.Ring): there is no shared log to follow.
var ErrNoEvents = errors.New("cachehttp: events need a Redis client (single node, Sentinel or Cluster)")

// Reading the invalidation log.
const (
	// eventsBlock is how long one XREAD waits for new entries: an idle
	// subscription sends one command per eventsBlock.
	eventsBlock = 25 * time.Second
	// eventsBatch is the most entries one read returns.
	eventsBatch = 512
	// eventsBackoffMin and eventsBackoffMax bound the wait before a read
	// that follows a failed one.
	eventsBackoffMin = 100 * time.Millisecond
	eventsBackoffMax = 5 * time.Second
)

// eventsKeys returns the invalidation log (a Redis Stream) and the epoch
// key (coherence.go), which holds a random value set (NX) once per data
// set, so a reader sees that Redis lost its data (restarted empty) even
// when the log was re-created since. Both share the {inv} hash tag: one
// slot, one node, one transaction.
func eventsKeys(l layout) (log, epoch string) { return l.logKey(), l.epochKey() }

// EventKind says what an Event reports.
type EventKind uint8

// Event kinds.
const (
	// EventGap: events were lost between the position the subscription
	// resumed from and the next event (the log was trimmed past it, or
	// Redis lost its data). Whatever the consumer derived from the cache
	// must be reloaded; events continue from the log's current end.
	EventGap EventKind = iota + 1
	// EventTags: entries carrying Tags were invalidated (InvalidateTags,
	// SoftPurgeTags, InvalidateOnSuccess).
	EventTags
	// EventKeys: the entries under Keys were deleted (Delete).
	EventKeys
	// EventPattern: the entries whose key matches Pattern were
	// invalidated (InvalidatePattern).
	EventPattern
	// EventNamespace: Namespace was bumped to Version (BumpVersion).
	EventNamespace
	// EventOverwrite: the entry under the key in Keys (none when it is
	// stored hashed) was stored again, by a cache whose coherence is on
	// (e.g. with an L1): copies read before are outdated.
	EventOverwrite
	// EventFlush: everything may have changed (also reported for a log
	// entry this version cannot read).
	EventFlush
)

var eventKindNames = [...]string{"", "gap", "tags", "keys", "pattern", "namespace", "overwrite", "flush"}

// String returns the kind's lower-case name: "gap", "tags", "keys",
// "pattern", "namespace", "overwrite" or "flush".
func (k EventKind) String() string {
	if int(k) < len(eventKindNames) && k != 0 {
		return eventKindNames[k]
	}
	return "unknown"
}

// Event is one entry of a cache's invalidation log.
type Event struct {
	// ID is the entry's Redis Stream ID ("1764504000000-0"): pass it as
	// EventsOptions.From to resume after this event. For EventGap it is
	// the position events continue from.
	ID string
	// Kind says what happened and which fields are set.
	Kind EventKind
	// Tags are the invalidated tags, as the application passed them
	// (EventTags). With EventsOptions.Tags set, only the matching ones.
	Tags []string
	// Keys are logical keys (as passed to GetOrLoad, Set and Delete, or
	// made by a route's key function) for EventKeys and EventOverwrite.
	// Keys stored hashed (longer than 512 bytes escaped) are left out.
	Keys []string
	// Pattern is the glob of EventPattern.
	Pattern string
	// Namespace and Version are those of EventNamespace.
	Namespace string
	Version   int64
}

// EventsOptions selects what a subscription delivers.
type EventsOptions struct {
	// From is the ID of the last event the consumer applied: events after
	// it are delivered. "" starts at the log's current end (only events
	// appended after Events returns); "0" starts at the oldest entry the
	// log retains.
	From string
	// Tags and Namespaces filter the events: when either is set, only
	// EventTags events with one of Tags (reduced to those), EventNamespace
	// events of one of Namespaces, EventFlush and EventGap are delivered.
	// Both empty: every event.
	Tags       []string
	Namespaces []string
}

// Events is a subscription to a cache's invalidation log. Next is not
// safe for concurrent use; Close may be called at any time.
type Events struct {
	c      *Cache
	client redis.UniversalClient
	key    string
	epKey  string
	tags   map[string]struct{}
	nss    map[string]struct{}
	filter bool

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	stopAF func() bool // unregisters the cache's Close hook

	mu      sync.Mutex // guards conn, closing and stopAF
	conn    *redis.Client
	closing bool

	// Read state, owned by the goroutine running fetch (at most one).
	cur      string // the last entry read, or a snapshot of the log's end
	curEntry bool   // cur is an entry the consumer saw or named
	curAdded int64  // for a snapshot: the log's entries-added then (0: unknown)
	epoch    string // the data set's epoch seen last ("" before the first read)
	check    bool   // the next read verifies the position (gap check)

	pending chan fetchResult // the read in flight, nil when none
	queue   []Event
	fails   int
}

type fetchResult struct {
	evs []Event
	err error
}

// Events subscribes to the invalidation log every instance sharing this
// cache's Redis and Prefix appends to: each invalidation (tags, keys,
// patterns, namespace bumps, overwrites) is one event, in the order Redis
// applied them. Delivery is at-least-once from o.From: a consumer that
// records the ID of each event it applied and resumes from it misses
// nothing, unless the log no longer holds what followed (it keeps the
// newest entries only, and loses them when Redis restarts empty): then the
// first event is EventGap, and events continue from the log's current end.
// A Gap is also reported, conservatively, when the log was trimmed exactly
// up to From. Failed reads are returned by Next; the next call resumes
// after the last event read.
//
// Each subscription holds one Redis connection of its own (to the log's
// node on a cluster), blocked in XREAD for up to 25 s at a time, and reads
// every entry of the log, filtering in-process. It ends with Close or when
// the cache is closed. In embedded mode (nil client) Events returns
// ErrNoEvents. With o.From "" it asks Redis for the log's end before
// returning (an error wraps fallback.ErrUnavailable).
func (c *Cache) Events(ctx context.Context, o EventsOptions) (*Events, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	switch c.client.(type) {
	case *redis.Client, *redis.ClusterClient:
	default:
		return nil, ErrNoEvents
	}
	e := &Events{c: c, client: c.client}
	e.key, e.epKey = eventsKeys(c.l)
	if len(o.Tags) > 0 || len(o.Namespaces) > 0 {
		e.filter = true
		e.tags = make(map[string]struct{}, len(o.Tags))
		for _, t := range o.Tags {
			e.tags[t] = struct{}{}
		}
		e.nss = make(map[string]struct{}, len(o.Namespaces))
		for _, ns := range o.Namespaces {
			e.nss[ns] = struct{}{}
		}
	}
	switch o.From {
	case "":
	case "0", "0-0":
		e.cur, e.check = "0-0", true
	default:
		if !validID(o.From) {
			return nil, fmt.Errorf("%w: EventsOptions.From %q is not a stream ID", ErrInvalidOptions, o.From)
		}
		e.cur, e.curEntry, e.check = o.From, true, true
		if !strings.Contains(e.cur, "-") {
			e.cur += "-0"
		}
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	rctx, cancel := context.WithTimeout(ctx, 10*c.mon.CommandTimeout())
	var err error
	if o.From == "" {
		err = e.snapshot(rctx)
	} else {
		e.queue, err = e.verify(rctx)
	}
	cancel()
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("%w: reading the invalidation log: %w", fallback.ErrUnavailable, err)
	}
	e.mu.Lock()
	e.stopAF = context.AfterFunc(c.ctx, func() { e.Close() })
	e.mu.Unlock()
	return e, nil
}

// validID reports whether s is a stream ID: "ms" or "ms-seq".
func validID(s string) bool {
	ms, seq, ok := strings.Cut(s, "-")
	if _, err := strconv.ParseUint(ms, 10, 64); err != nil {
		return false
	}
	if ok {
		if _, err := strconv.ParseUint(seq, 10, 64); err != nil {
			return false
		}
	}
	return true
}

// cmpID compares two stream IDs ("ms-seq", "ms" meaning "ms-0").
func cmpID(a, b string) int {
	am, as := splitID(a)
	bm, bs := splitID(b)
	switch {
	case am < bm:
		return -1
	case am > bm:
		return 1
	case as < bs:
		return -1
	case as > bs:
		return 1
	}
	return 0
}

func splitID(s string) (uint64, uint64) {
	ms, seq, _ := strings.Cut(s, "-")
	m, _ := strconv.ParseUint(ms, 10, 64)
	q, _ := strconv.ParseUint(seq, 10, 64)
	return m, q
}

// Next returns the next event, waiting for one as long as ctx allows. When
// ctx ends first it returns ctx's error and the read stays in flight: the
// next call picks it up, so nothing is lost. After Close (or the cache's
// Close) it returns ErrClosed. A Redis error is returned as is (wrapping
// fallback.ErrUnavailable); the following call waits a short backoff
// (100 ms doubling up to 5 s), reconnects and resumes.
func (e *Events) Next(ctx context.Context) (Event, error) {
	for {
		if len(e.queue) > 0 {
			ev := e.queue[0]
			e.queue = e.queue[1:]
			return ev, nil
		}
		if e.ctx.Err() != nil {
			return Event{}, ErrClosed
		}
		if e.pending == nil {
			ch := make(chan fetchResult, 1)
			e.pending = ch
			wait := time.Duration(0)
			if e.fails > 0 {
				wait = min(eventsBackoffMin<<min(e.fails-1, 10), eventsBackoffMax)
			}
			go func() {
				if wait > 0 {
					t := time.NewTimer(wait)
					select {
					case <-t.C:
					case <-e.ctx.Done():
						t.Stop()
						ch <- fetchResult{err: ErrClosed}
						return
					}
				}
				evs, err := e.fetch()
				ch <- fetchResult{evs: evs, err: err}
			}()
		}
		select {
		case r := <-e.pending:
			e.pending = nil
			if e.ctx.Err() != nil {
				return Event{}, ErrClosed
			}
			if r.err != nil {
				e.fails++
				return Event{}, fmt.Errorf("%w: reading the invalidation log: %w", fallback.ErrUnavailable, r.err)
			}
			e.fails = 0
			e.queue = r.evs
		case <-ctx.Done():
			return Event{}, ctx.Err()
		case <-e.ctx.Done():
			return Event{}, ErrClosed
		}
	}
}

// Close ends the subscription: a Next waiting returns ErrClosed and the
// connection is closed. It is idempotent.
func (e *Events) Close() {
	e.cancel()
	e.mu.Lock()
	e.closing = true
	conn, stop := e.conn, e.stopAF
	e.conn = nil
	e.mu.Unlock()
	if stop != nil {
		stop() // no longer tied to the cache's Close
	}
	if conn != nil {
		_ = conn.Close() // a read in flight fails at once and its goroutine ends
	}
}

// node returns the subscription's own connection to the node holding the
// log: a client of one connection with the cache client's settings.
func (e *Events) node(ctx context.Context) (*redis.Client, error) {
	e.mu.Lock()
	if e.closing {
		e.mu.Unlock()
		return nil, ErrClosed
	}
	if e.conn != nil {
		c := e.conn
		e.mu.Unlock()
		return c, nil
	}
	e.mu.Unlock()
	var base *redis.Client
	switch cl := e.client.(type) {
	case *redis.Client:
		base = cl
	case *redis.ClusterClient:
		n, err := cl.MasterForKey(ctx, e.key)
		if err != nil {
			return nil, err
		}
		base = n
	default:
		return nil, ErrNoEvents
	}
	opt := *base.Options()
	opt.PoolSize, opt.MinIdleConns, opt.MaxIdleConns, opt.MaxActiveConns = 1, 0, 1, 1
	opt.MaxRetries = -1 // a failed read is retried by Next, after a gap check
	opt.ContextTimeoutEnabled = true
	opt.AutoPipelineOptions = nil
	opt.ClientSideCache, opt.ClientSideCacheConfig = nil, nil
	opt.ClientSideCacheRefreshOnInvalidate, opt.ClientSideCacheCoalesceMisses = false, false
	// Not shared with base, whose handshake writes its own.
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	c := redis.NewClient(&opt)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closing {
		_ = c.Close()
		return nil, ErrClosed
	}
	e.conn = c
	return c, nil
}

// dropConn closes the connection after a failure; the next read dials
// again (on a cluster, to the log's node then).
func (e *Events) dropConn() {
	e.mu.Lock()
	c := e.conn
	e.conn = nil
	e.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

// logState is what one transaction learns about the log.
type logState struct {
	epoch   string
	exists  bool
	last    string // last-generated-id
	length  int64
	added   int64 // entries-added (0 when not reported)
	held    bool  // the log holds the entry cur
	entries []redis.XMessage
}

// state reads the epoch (setting it when missing), the log's metadata,
// whether it holds cur, and (when read) up to eventsBatch entries after
// cur, in one transaction.
func (e *Events) state(ctx context.Context, conn *redis.Client, cur string, read bool) (logState, error) {
	var st logState
	var epoch *redis.StringCmd
	var info *redis.XInfoStreamCmd
	var held *redis.XMessageSliceCmd
	var rd *redis.XStreamSliceCmd
	_, err := conn.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SetNX(ctx, e.epKey, newLogEpoch(), 0)
		epoch = p.Get(ctx, e.epKey)
		info = p.XInfoStream(ctx, e.key)
		if cur != "" && cur != "0-0" {
			held = p.XRangeN(ctx, e.key, cur, cur, 1)
		}
		if read {
			rd = p.XRead(ctx, &redis.XReadArgs{Streams: []string{e.key, cur}, Count: eventsBatch, Block: -1})
		}
		return nil
	})
	if err != nil && !isNoKey(err) && !errors.Is(err, redis.Nil) {
		return st, err
	}
	if st.epoch, err = epoch.Result(); err != nil {
		return st, err
	}
	if is, err := info.Result(); err == nil {
		st.exists, st.last, st.length, st.added = true, is.LastGeneratedID, is.Length, is.EntriesAdded
	} else if !isNoKey(err) {
		return st, err
	}
	if held != nil {
		ms, err := held.Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return st, err
		}
		st.held = len(ms) > 0
	}
	if rd != nil {
		ss, err := rd.Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return st, err
		}
		for _, s := range ss {
			st.entries = append(st.entries, s.Messages...)
		}
	}
	return st, nil
}

// isNoKey reports the error XINFO STREAM answers for a missing key.
func isNoKey(err error) bool {
	return err != nil && strings.Contains(strings.ToLower(err.Error()), "no such key")
}

// snapshot sets the position to the log's current end.
func (e *Events) snapshot(ctx context.Context) error {
	conn, err := e.node(ctx)
	if err != nil {
		return err
	}
	st, err := e.state(ctx, conn, "", false)
	if err != nil {
		e.dropConn()
		return err
	}
	e.epoch = st.epoch
	e.atEnd(st)
	return nil
}

// atEnd moves the position to the end of the log described by st.
func (e *Events) atEnd(st logState) {
	e.cur, e.curEntry, e.curAdded = "0-0", false, 0
	if st.exists {
		e.cur, e.curAdded = st.last, st.added
	}
}

// gap applies the gap rule to the position and the log state st.
func (e *Events) gap(st logState) bool {
	switch {
	case e.epoch != "" && st.epoch != e.epoch:
		return true // Redis lost its data since the last read
	case e.cur == "0-0":
		return false
	case !st.exists:
		return true
	case cmpID(st.last, e.cur) <= 0:
		return false // nothing was appended after the position
	case e.curEntry:
		// The log is trimmed from its oldest end: while it holds the
		// position, it holds everything after it.
		return !st.held
	case st.length == 0:
		return true
	case st.added > 0 && e.curAdded > 0:
		// The position is the log's end as it was when entries-added was
		// curAdded: entries after it were trimmed when more than that
		// many are gone.
		return st.added-st.length > e.curAdded
	}
	return false
}

// verify applies the gap rule to the position and reads the first batch
// after it, in one transaction: a Gap event, or the events read (possibly
// none).
func (e *Events) verify(ctx context.Context) ([]Event, error) {
	conn, err := e.node(ctx)
	if err != nil {
		return nil, err
	}
	st, err := e.state(ctx, conn, e.cur, true)
	if err != nil {
		e.dropConn()
		e.check = true
		return nil, err
	}
	gap := e.gap(st)
	e.epoch = st.epoch
	e.check = false
	if gap {
		e.atEnd(st)
		return []Event{{ID: e.cur, Kind: EventGap}}, nil
	}
	if len(st.entries) == 0 {
		if e.cur != "0-0" && !st.held {
			// Nothing follows the position and the log does not hold it:
			// remember the log's end instead, whose successors the gap
			// rule can follow.
			e.atEnd(st)
		}
		return nil, nil
	}
	e.check = len(st.entries) >= eventsBatch // catching up: verify again
	return e.decode(st.entries), nil
}

// fetch reads the next batch of events (possibly none, after a block that
// timed out).
func (e *Events) fetch() ([]Event, error) {
	ctx := e.ctx
	conn, err := e.node(ctx)
	if err != nil {
		return nil, err
	}
	if e.check {
		evs, err := e.verify(ctx)
		if err != nil || len(evs) > 0 {
			return evs, err
		}
	}
	ss, err := conn.XRead(ctx, &redis.XReadArgs{Streams: []string{e.key, e.cur}, Count: eventsBatch, Block: eventsBlock}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		e.dropConn()
		e.check = true
		return nil, err
	}
	var ms []redis.XMessage
	for _, s := range ss {
		ms = append(ms, s.Messages...)
	}
	e.check = len(ms) >= eventsBatch
	return e.decode(ms), nil
}

// decode turns log entries into the events this subscription delivers and
// advances the position past them.
func (e *Events) decode(ms []redis.XMessage) []Event {
	out := make([]Event, 0, len(ms))
	for _, m := range ms {
		e.cur, e.curEntry = m.ID, true
		raw, _ := m.Values["m"].(string)
		ev := e.c.parseEvent([]byte(raw))
		ev.ID = m.ID
		if e.keep(&ev) {
			out = append(out, ev)
		}
	}
	return out
}

// keep applies the filters, reducing Tags to the matching ones.
func (e *Events) keep(ev *Event) bool {
	if ev.Kind == EventTags && len(ev.Tags) == 0 {
		return false // only internal tags (a Delete's variants): its keys event follows
	}
	if !e.filter {
		return true
	}
	switch ev.Kind {
	case EventFlush, EventGap:
		return true
	case EventTags:
		n := 0
		for _, t := range ev.Tags {
			if _, ok := e.tags[t]; ok {
				ev.Tags[n] = t
				n++
			}
		}
		ev.Tags = ev.Tags[:n]
		return n > 0
	case EventNamespace:
		_, ok := e.nss[ev.Namespace]
		return ok
	}
	return false
}

// parseEvent decodes one log message (encodeMsg, overwriteMsg) into an
// Event; anything unreadable is an EventFlush.
func (c *Cache) parseEvent(msg []byte) Event {
	flush := Event{Kind: EventFlush}
	if len(msg) == 0 {
		return flush
	}
	kind := msg[0]
	if kind == msgOverwrite {
		if len(msg) < 1+originLen {
			return flush
		}
		return Event{Kind: EventOverwrite, Keys: c.logicalKeys([]string{string(msg[1+originLen:])})}
	}
	items, rest, ok := readStrings(msg[1:])
	if !ok || len(rest) != 0 {
		return flush
	}
	switch kind {
	case msgTags:
		tags := make([]string, 0, len(items))
		for _, t := range items {
			if !strings.HasPrefix(t, "\x00") { // internal (variantTag)
				tags = append(tags, t)
			}
		}
		return Event{Kind: EventTags, Tags: tags}
	case msgKeys:
		return Event{Kind: EventKeys, Keys: c.logicalKeys(items)}
	case msgPattern:
		if len(items) == 1 {
			return Event{Kind: EventPattern, Pattern: items[0]}
		}
	case msgVersion:
		if len(items) == 2 {
			if v, err := strconv.ParseInt(items[1], 10, 64); err == nil {
				return Event{Kind: EventNamespace, Namespace: items[0], Version: v}
			}
		}
	}
	return flush
}

// logicalKeys maps physical key names back to logical keys, once each;
// hashed and foreign names are left out.
func (c *Cache) logicalKeys(names []string) []string {
	out := make([]string, 0, len(names))
	for _, name := range names {
		_, esc, ok := c.l.parse(name)
		if !ok {
			continue
		}
		if i := strings.IndexByte(esc, '|'); i >= 0 {
			esc = esc[:i]
		}
		k, ok := unescapeKey(esc)
		if !ok {
			continue
		}
		dup := false
		for _, o := range out {
			if o == k {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, k)
		}
	}
	return out
}
