package cachehttp

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// defaultCoherencePing is how long the log reader's XREAD blocks while
// nothing happens: under fallback's 30 s idle probe, so an idle instance
// sends about one command per 25 s.
const defaultCoherencePing = 25 * time.Second

// defaultCoherenceLog is the default approximate MAXLEN of the invalidation
// log (Options.CoherenceLog).
const defaultCoherenceLog = 10000

// logReadCount is the COUNT of each XREAD of the log.
const logReadCount = 512

// logBackoffMax bounds the wait between attempts to reach the log.
const logBackoffMax = time.Second

// Cross-instance coherence rides on an invalidation log: one Redis Stream,
// "<prefix>{inv}log". Every invalidation this cache makes (tags, soft purge,
// pattern, delete, version bump) is appended to it, and with coherence on
// every store appends an overwrite of its key. Each entry has one field,
// "m": a message in the format below. Each cache with an L1 (or
// Options.Coherence) follows the log with XREAD BLOCK from the ID of the
// last entry it applied (no consumer group: every instance reads every
// entry) and drops the matching L1 entries. After a disconnect it resumes
// from that ID and applies exactly what it missed, keeping the rest of its
// L1; while it is disconnected (or catching up) the L1 is bypassed, not
// flushed. Only when the entries it missed are gone (the log was trimmed
// past its position, or Redis restarted empty) does it flush the L1, once.
//
// Atomicity. On a single node (and Sentinel) the scripts that change
// entries append their entry themselves (lua/*.lua), in the same atomic
// step: no reader can see the change without the entry being there. On a
// Redis Cluster a script reaches only the keys of one slot and the log is
// one key on one node (the slot of "{inv}"), so the entry is appended by an
// XADD right after the script succeeds, in the same call: an instance that
// dies between the two leaves the other instances' L1 copies of what it
// changed until their L1 TTL. Pattern invalidations (SCAN + deletes) are
// logged from Go once they end, on every topology.
//
// Where the log lives on a cluster: one key, so one node (the master of the
// slot of "{inv}") takes every append and every reader's XREAD. One node
// sustains tens of thousands of XADDs per second (BenchmarkLogAppend: about
// 17,000/s on a loopback test cluster, 27,000/s on a single node, client
// and server sharing two cores), while a tag invalidation on a cluster runs
// one script per group (64 by default) and manages about 500 calls/s in the
// same setup: the invalidations themselves are the limit long before the
// log is. With Coherence on, every store appends an overwrite as well, so
// the log's node becomes the limit when stores and invalidations together
// approach that node's XADD rate, i.e. at fill (miss) rates of some ten
// thousand per second across all instances.
//
// Gaps. On every (re)connection the reader reads the log's state and an
// epoch key, "<prefix>{inv}epoch", set NX to a random value by the first
// reader to find it missing. A different epoch (Redis restarted empty or was
// flushed, and the log possibly re-created since) or a log whose oldest
// retained entry is newer than the last one applied while entries were
// added after it (trimmed past this reader) means entries were missed: the
// L1 is flushed once and the reader continues from the log's end.
//
// Trimming. Appends trim the log to about Options.CoherenceLog entries
// (MAXLEN ~, whole macro nodes, so it may hold a hundred or so more). A
// reader that is away misses nothing as long as fewer entries than that
// were appended meanwhile: at R invalidations and overwrites per second the
// log covers N/R seconds of absence (10000 entries at 100/s: 100 s; at
// 1000/s: 10 s); a longer absence costs one L1 flush.
//
// Why not pub/sub: a message published while a subscription is down is
// lost, so every reconnection had to flush the whole L1. The log keeps what
// was appended while a reader was away.
//
// Message format: one kind byte, then for msgOverwrite the writer's origin
// and the physical key name as is, and for the other kinds uvarint-counted
// strings (appendStrings).
const (
	msgOverwrite = 'o' // origin, physical key name (appended by store.lua)
	msgKeys      = 'k' // physical key names
	msgTags      = 't' // tags (hard or soft)
	msgPattern   = 'p' // one logical-key glob
	msgVersion   = 'v' // namespace, new version
	msgFlush     = 'f' // everything
)

// logKey is the invalidation log; epochKey identifies the log's lifetime
// (a Redis restarted empty gets a new one). Both share the hash tag
// "{inv}", so on a cluster they live on one node and a reader's sync is one
// pipeline.
func (l layout) logKey() string   { return l.prefix + "{inv}log" }
func (l layout) epochKey() string { return l.prefix + "{inv}epoch" }

func encodeMsg(kind byte, items []string) []byte {
	return appendStrings([]byte{kind}, items)
}

// logsInScript reports whether the scripts append their own log entries
// (a single node or Sentinel), so the Go side must not append them again.
func (c *Cache) logsInScript() bool { return c.redis != nil && c.redis.inScript }

// published applies an invalidation to this process's L1 and, unless its
// script already did (logged), appends it to the invalidation log for the
// other instances. A failed append is logged: the others then keep their L1
// copies until their L1 TTL.
func (c *Cache) published(ctx context.Context, kind byte, items []string, logged bool) {
	msg := encodeMsg(kind, items)
	c.applyMsg(msg)
	if logged || c.redis == nil || !c.mon.Available() {
		return
	}
	rctx, cancel := c.redisCtx(ctx)
	err := c.redis.appendLog(rctx, msg)
	cancel()
	if err != nil {
		c.logAppendFailed(err)
	}
}

func (c *Cache) logAppendFailed(err error) {
	c.opts.Logger.Warn("cachehttp: appending to the invalidation log failed; other instances' L1 copies expire by their L1 TTL",
		"error", err)
}

// applyMsg applies one invalidation message to the L1 and the namespace
// versions. A malformed message flushes the L1.
//
// The same entry is usually applied twice, by published and by the log
// reader, and on a single node the reader may get it first (the script
// appended it): applyMu serializes the two, so the second finds nothing
// left to drop instead of walking the same items concurrently.
func (c *Cache) applyMsg(msg []byte) {
	if len(msg) == 0 {
		return
	}
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	kind := msg[0]
	if kind == msgOverwrite {
		if len(msg) < 1+originLen {
			c.l1Flush()
			return
		}
		if c.redis == nil || string(msg[1:1+originLen]) != c.redis.origin {
			c.l1DropNames(string(msg[1+originLen:]))
		}
		return
	}
	items, rest, ok := readStrings(msg[1:])
	if !ok || len(rest) != 0 {
		c.l1Flush()
		return
	}
	switch kind {
	case msgKeys:
		c.l1DropNames(items...)
	case msgTags:
		c.l1DropTags(items)
	case msgPattern:
		if len(items) != 1 {
			c.l1Flush()
			return
		}
		if sp, err := scanPattern(items[0]); err == nil {
			keep := patternKeep(items[0])
			c.l1DropWhere(func(_ string, it *l1Item) bool { return globMatch(sp, it.esc) && keep(it.esc) })
		}
	case msgVersion:
		if len(items) != 2 {
			c.l1Flush()
			return
		}
		var ver int64
		for _, ch := range items[1] {
			if ch < '0' || ch > '9' {
				c.l1Flush()
				return
			}
			ver = ver*10 + int64(ch-'0')
		}
		c.setVersion(items[0], ver)
		c.l1DropNamespace(items[0])
	default:
		c.l1Flush()
	}
}

// coherence is the log reader goroutine.
type coherence struct {
	c      *Cache
	rc     redis.UniversalClient // the reader's own client (own) or c.client
	own    bool
	block  time.Duration
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	// Owned by the goroutine.
	last string // ID of the last entry applied, or where reading started
	// lastEntry: last is an entry read from the log (else the log's end
	// at a sync, whose entries-added count was lastAdded).
	lastEntry bool
	lastAdded int64
	epoch     string // the epoch seen at the last sync ("" before the first)
	synced    bool

	hold     atomic.Pointer[func()] // tests: run before each sync
	flushes  atomic.Int64           // L1 flushes for entries missed (gaps)
	syncs    atomic.Int64           // successful syncs (connections)
	caughtUp atomic.Int64           // entries applied while catching up after a reconnection
}

// coherent reports whether the reader is connected and caught up: the L1
// may be used and pushed namespace versions trusted.
func (c *Cache) coherent() bool { return c.coh != nil && c.cohUp.Load() }

// startCoherence starts the log reader. It does no I/O (the reader's
// client dials on its first command), so New never waits for Redis.
func (c *Cache) startCoherence() {
	h := &coherence{c: c, block: c.opts.CoherencePing, done: make(chan struct{})}
	h.rc, h.own = readerClient(c.client)
	if !h.own {
		// A shared client's blocked read cannot be interrupted by Close.
		h.block = min(h.block, time.Second)
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	c.coh = h
	go h.run()
}

// readerClient returns a client of its own for the log reader: one
// connection, no retries (every broken connection is seen, so the reader
// checks for a gap after each reconnection), context deadlines honoured (a
// silently dead connection is given up after the block time plus the
// command timeout). Closing it interrupts a blocked XREAD. Client types it
// cannot copy (a Ring) are used as they are.
func readerClient(c redis.UniversalClient) (redis.UniversalClient, bool) {
	switch cl := c.(type) {
	case *redis.Client:
		o := *cl.Options()
		o.PoolSize, o.MinIdleConns, o.MaxIdleConns, o.MaxActiveConns = 1, 0, 1, 0
		o.MaxRetries = -1
		o.ContextTimeoutEnabled = true
		// Connection state the copy must not share with the original.
		o.PushNotificationProcessor = nil
		o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
		o.ClientSideCacheConfig, o.ClientSideCache = nil, nil
		return redis.NewClient(&o), true
	case *redis.ClusterClient:
		o := *cl.Options()
		o.PoolSize, o.MinIdleConns, o.MaxIdleConns, o.MaxActiveConns = 1, 0, 1, 0
		o.MaxRetries = -1
		o.MaxRedirects = -1 // a redirect is an error too: the reader syncs again
		o.ContextTimeoutEnabled = true
		o.PushNotificationProcessor = nil
		o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
		return redis.NewClusterClient(&o), true
	}
	return c, false
}

// stop ends the reader and waits for it.
func (h *coherence) stop() {
	h.cancel()
	if h.own {
		_ = h.rc.Close() // interrupts a blocked XREAD
	}
	<-h.done
}

func (h *coherence) run() {
	defer close(h.done)
	var backoff time.Duration
	for h.ctx.Err() == nil {
		err := h.step()
		if h.ctx.Err() != nil {
			return
		}
		if err == nil {
			backoff = 0
			continue
		}
		h.down()
		if cc, ok := h.rc.(*redis.ClusterClient); ok {
			// The log's node may have failed over: ask for the slot map
			// again rather than wait for go-redis to reload it.
			cc.ReloadState(h.ctx)
		}
		backoff = min(max(2*backoff, 50*time.Millisecond), logBackoffMax)
		t := time.NewTimer(backoff)
		select {
		case <-h.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// step syncs when needed, else waits for entries and applies them.
func (h *coherence) step() error {
	if !h.synced {
		if err := h.sync(); err != nil {
			return err
		}
		h.synced = true
		h.syncs.Add(1)
		h.up()
		return nil
	}
	_, err := h.read(h.block)
	if err != nil {
		h.synced = false
	}
	return err
}

// read reads and applies the entries after h.last (blocking up to block
// when there are none; block < 0: not at all) and returns how many.
func (h *coherence) read(block time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(h.ctx, max(block, 0)+h.c.mon.CommandTimeout())
	defer cancel()
	res, err := h.rc.XRead(ctx, &redis.XReadArgs{
		Streams: []string{h.c.l.logKey(), h.last}, Count: logReadCount, Block: block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	for _, st := range res {
		for _, m := range st.Messages {
			if v, ok := m.Values["m"].(string); ok {
				h.c.applyMsg([]byte(v))
			}
			h.last, h.lastEntry = m.ID, true
			n++
		}
	}
	return n, nil
}

// sync runs on every (re)connection: it reads the epoch and the log's
// state, flushes the L1 once when entries were missed, and otherwise
// applies what was appended since h.last.
func (h *coherence) sync() error {
	c := h.c
	if f := h.hold.Load(); f != nil {
		(*f)()
	}
	ctx, cancel := context.WithTimeout(h.ctx, 2*c.mon.CommandTimeout())
	defer cancel()
	p := h.rc.Pipeline()
	p.SetNX(ctx, c.l.epochKey(), newLogEpoch(), 0)
	epochCmd := p.Get(ctx, c.l.epochKey())
	info := p.XInfoStream(ctx, c.l.logKey())
	first := p.XRangeN(ctx, c.l.logKey(), "-", "+", 1)
	_, _ = p.Exec(ctx)
	epoch, err := epochCmd.Result()
	if err != nil {
		return err
	}
	missing := false
	end := "0-0"
	var length, added int64
	if err := info.Err(); err != nil {
		if !strings.Contains(strings.ToLower(err.Error()), "no such key") {
			return err
		}
		missing = true
	} else {
		is := info.Val()
		end, length, added = is.LastGeneratedID, is.Length, is.EntriesAdded
	}
	if err := first.Err(); err != nil {
		return err
	}
	oldest := ""
	if fs := first.Val(); len(fs) > 0 {
		oldest = fs[0].ID
	}
	var gap bool
	switch {
	case h.epoch == "":
		// First sync: nothing applied yet, the L1 is empty.
	case epoch != h.epoch:
		gap = true // restarted empty or flushed
	case missing:
		gap = h.last != "0-0" // the log was deleted
	case !idLess(h.last, end):
		// Nothing was appended after the position.
	case h.lastEntry:
		// The log is trimmed from its oldest end: while it holds the
		// last entry applied, it holds everything after it.
		gap = oldest == "" || idLess(h.last, oldest)
	case length == 0:
		gap = true // entries were appended after the position, none is left
	case added > 0:
		// The position is the log's end as of entries-added lastAdded:
		// entries after it are gone when more than that many are.
		gap = added-length > h.lastAdded
	}
	h.epoch = epoch
	if h.last == "" || gap {
		if gap {
			h.flushes.Add(1)
			c.opts.Logger.Warn("cachehttp: invalidation log entries were missed (trimmed, or Redis restarted empty); L1 flushed")
			c.l1Flush()
			c.forgetVersions()
		}
		h.last, h.lastEntry, h.lastAdded = end, false, added
		return nil
	}
	// Catch up before the L1 is used again.
	for {
		n, err := h.read(-1)
		if err != nil {
			return err
		}
		h.caughtUp.Add(int64(n))
		if n < logReadCount {
			return nil
		}
	}
}

// idLess reports whether stream ID a is older than b ("ms-seq").
func idLess(a, b string) bool {
	am, as := parseLogID(a)
	bm, bs := parseLogID(b)
	if am != bm {
		return am < bm
	}
	return as < bs
}

func parseLogID(id string) (uint64, uint64) {
	ms, seq, _ := strings.Cut(id, "-")
	m, _ := strconv.ParseUint(ms, 10, 64)
	s, _ := strconv.ParseUint(seq, 10, 64)
	return m, s
}

func newLogEpoch() string { return newOrigin() + newOrigin() }

// down marks the reader disconnected: the L1 is bypassed (kept) until the
// reader has caught up again.
func (h *coherence) down() {
	c := h.c
	if c.cohUp.Swap(false) {
		c.opts.Logger.Warn("cachehttp: invalidation log reader disconnected; L1 bypassed until it has caught up")
	}
}

func (h *coherence) up() { h.c.cohUp.Store(true) }

// patternKeep returns the exact decision of InvalidatePattern for an escaped
// key (suffixes stripped, unescaped, matched against the glob); hashed keys
// match only a pattern of '*' alone.
func patternKeep(pattern string) func(esc string) bool {
	all := onlyStars(pattern)
	return func(esc string) bool {
		if i := strings.IndexByte(esc, '|'); i >= 0 {
			esc = esc[:i]
		}
		logical, ok := unescapeKey(esc)
		if !ok {
			return all
		}
		return globMatch(pattern, logical)
	}
}

// overwriteMsg is the entry store.lua appends to the log (its key; ""
// means none, and no entry) for a store of name. This instance drops its
// own L1 copy right after the store returns (redisBackend.stored), so the
// entry carries the origin to be skipped here: a copy this instance reads
// back after its own store is new.
func overwriteMsg(log, origin, name string) string {
	if log == "" {
		return ""
	}
	return string(msgOverwrite) + origin + name
}

// originLen is the length of an instance's origin tag.
const originLen = 12

func newOrigin() string {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	b := newToken()[1 : 1+originLen]
	for i := range b {
		b[i] = digits[int(b[i])%len(digits)]
	}
	return string(b)
}
