package cachehttp

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aura-platform/redishttp/internal/pipe"
	"github.com/redis/go-redis/v9"
)

// tagBatch is how many tag members one invalidation script removes, so no
// single script blocks Redis for long.
const tagBatch = 256

// scanCount is the COUNT hint of the SCANs of InvalidatePattern.
const scanCount = 1000

type redisBackend struct {
	c redis.UniversalClient
	r *pipe.Runner // the per-request commands: c, or its auto-pipeliner
	l layout
	// stampLife is the minimum lifetime of a tag invalidation stamp: the
	// longest load whose result is still stored.
	stampLife time.Duration
	now       func() time.Time
	// The invalidation log (coherence.go): logKey is the stream every
	// invalidation is appended to and logMax its approximate MAXLEN.
	// inScript is true where the scripts append their entry themselves, in
	// the same atomic step (one node: a script reaches every key); on a
	// cluster the log is in another slot, so the entry is appended by a
	// separate XADD right after the script. storeLog makes each store
	// append an overwrite of its key (coherence on); origin tags those
	// entries so this instance skips its own, stored runs after each write
	// and logErr reports an append that failed after its script.
	logKey   string
	logMax   string
	inScript bool
	storeLog bool
	origin   string
	stored   func(name string)
	logErr   func(err error)
}

// appendLog appends one entry to the invalidation log (on a cluster, after
// the script that made the change; coherence.go).
func (b *redisBackend) appendLog(ctx context.Context, msg []byte) error {
	return b.c.XAdd(ctx, &redis.XAddArgs{
		Stream: b.logKey, MaxLen: b.logMaxN(), Approx: true, Values: []any{"m", msg},
	}).Err()
}

func (b *redisBackend) logMaxN() int64 {
	n, _ := strconv.ParseInt(b.logMax, 10, 64)
	return n
}

// scriptLog returns the extra key and MAXLEN argument of a script that
// appends its own log entry: none ("") where the entry is appended from Go.
func (b *redisBackend) scriptLog(keys []string) ([]string, string) {
	if !b.inScript {
		return keys, ""
	}
	return append(keys, b.logKey), b.logMax
}

func (b *redisBackend) fetch(ctx context.Context, k key, token []byte, leaseTTL time.Duration) ([]byte, error) {
	var cmd *redis.StringCmd
	if token == nil {
		cmd = redis.NewStringCmd(ctx, "get", k.name)
	} else {
		// SET NX GET: one command that returns the entry when present and
		// otherwise takes the fill lease. When the key exists nothing is
		// written (and nothing replicated): a hit costs what a GET costs.
		cmd = redis.NewStringCmd(ctx, "set", k.name, token, "px", leaseTTL.Milliseconds(), "nx", "get")
	}
	if err := b.r.Process(ctx, cmd); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err // the command may still be in flight: not read
	}
	v, err := cmd.Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if token != nil && bytes.Equal(v, token) {
		// Our own lease: the SET ran twice (go-redis resent it after a
		// broken connection) and the second run found the first's lease.
		return nil, nil
	}
	return v, err
}

func (b *redisBackend) store(ctx context.Context, w write) (bool, error) {
	keys := make([]string, 0, 4+2*len(w.tags))
	keys = append(keys, w.key.name, b.l.live(w.key.group, w.route), b.l.lease(w.key))
	for _, t := range w.tags {
		keys = append(keys, b.l.tagSet(w.key.group, t), b.l.tagStamp(w.key.group, t))
	}
	var msg, logMax string
	if b.storeLog {
		msg = overwriteMsg(b.logKey, b.origin, w.key.name)
		keys, logMax = b.scriptLog(keys)
	}
	now := b.now()
	ttl := w.ttl.Milliseconds()
	if ttl < 1 {
		ttl = 1
	}
	n, err := storeScript.Run(ctx, b.r, keys, w.value, ttl, now.UnixMilli(), now.UnixMilli()+ttl,
		w.token, w.started.UnixMilli(), logMax, msg).Int()
	if n == 1 && b.storeLog && !b.inScript {
		if err := b.appendLog(ctx, []byte(msg)); err != nil && b.logErr != nil {
			b.logErr(err)
		}
	}
	if n == 1 && b.stored != nil {
		b.stored(w.key.name)
	}
	return n == 1, err
}

func (b *redisBackend) release(ctx context.Context, k key, token []byte) error {
	return releaseScript.Run(ctx, b.r, []string{k.name}, token).Err()
}

func (b *redisBackend) tryLease(ctx context.Context, name string, ttl time.Duration) (bool, error) {
	cmd := redis.NewBoolCmd(ctx, "set", name, "1", "px", max(ttl.Milliseconds(), 1), "nx")
	if err := b.r.Process(ctx, cmd); err != nil && !errors.Is(err, redis.Nil) {
		return false, err
	}
	return cmd.Result()
}

// scriptCall is one run of a script in a pipeline.
type scriptCall struct {
	keys []string
	args []any
}

// runScripts runs calls of s in one pipeline (one round trip per node) and
// returns their commands. A NOSCRIPT reply (a restarted or flushed server)
// makes it load the script, on every master of a cluster, and try once more.
func (b *redisBackend) runScripts(ctx context.Context, s *redis.Script, calls []scriptCall) ([]*redis.Cmd, error) {
	if len(calls) == 1 {
		c := s.Run(ctx, b.c, calls[0].keys, calls[0].args...)
		return []*redis.Cmd{c}, nil
	}
	for attempt := 0; ; attempt++ {
		cmds := make([]*redis.Cmd, len(calls))
		_, err := b.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, c := range calls {
				cmds[i] = p.EvalSha(ctx, s.Hash(), c.keys, c.args...)
			}
			return nil
		})
		if err == nil || errors.Is(err, redis.Nil) || !isNoScript(err) || attempt > 0 {
			return cmds, err
		}
		if err := b.loadScript(ctx, s); err != nil {
			return nil, err
		}
	}
}

func (b *redisBackend) loadScript(ctx context.Context, s *redis.Script) error {
	if cc, ok := b.c.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			return s.Load(ctx, m).Err()
		})
	}
	return s.Load(ctx, b.c).Err()
}

func isNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}

func (b *redisBackend) delete(ctx context.Context, keys []key) (int, error) {
	return b.deleteKeys(ctx, keys, false)
}

// deleteKeys deletes keys; logged makes the last script of the pipeline
// (run last: one node) append the entry for all of them (msgKeys) to the
// invalidation log, atomically with its deletion and after the others. On
// a cluster the caller appends it.
func (b *redisBackend) deleteKeys(ctx context.Context, keys []key, logged bool) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	calls := make([]scriptCall, len(keys))
	for i, k := range keys {
		calls[i] = scriptCall{keys: []string{k.name}, args: []any{b.l.base(k.group)}}
	}
	if logged && b.inScript {
		names := make([]string, len(keys))
		for i, k := range keys {
			names[i] = k.name
		}
		last := &calls[len(calls)-1]
		last.keys, _ = b.scriptLog(last.keys)
		last.args = append(last.args, b.logMax, encodeMsg(msgKeys, names))
	}
	cmds, err := b.runScripts(ctx, deleteScript, calls)
	n := 0
	for _, c := range cmds {
		v, cerr := c.Int()
		if cerr != nil {
			if err == nil {
				err = cerr
			}
			continue
		}
		n += v
	}
	return n, err
}

func (b *redisBackend) invalidateTags(ctx context.Context, tags []string) (int, error) {
	total := 0
	now := b.now().UnixMilli()
	life := b.stampLife.Milliseconds()
	msg := encodeMsg(msgTags, tags)
	for ti, t := range tags {
		// Every group holds a share of the tag's members; each script run
		// pops at most tagBatch of them, so no single command blocks Redis
		// for long. Groups that had a full batch are run again.
		logHere := b.inScript && ti == len(tags)-1
		for _, phase := range b.tagPhases(logHere) {
			if err := b.invalidateTagGroups(ctx, t, phase, logHere, msg, now, life, &total); err != nil {
				return total, err
			}
		}
	}
	return total, nil
}

// tagPhases returns the groups of one tag's invalidation in the order they
// run: all together, or, when the scripts log the call's entry (its last
// tag, on one node), every group but 0 first and then group 0, whose last
// run appends the entry after every other deletion of the call.
func (b *redisBackend) tagPhases(logHere bool) [][]int {
	all := make([]int, b.l.groups)
	for g := range all {
		all[g] = g
	}
	if !logHere || b.l.groups == 1 {
		return [][]int{all}
	}
	return [][]int{all[1:], all[:1]}
}

// invalidateTagGroups runs invalidate_tag.lua for tag t on groups until
// they are empty; with logHere, group 0's last run appends msg.
func (b *redisBackend) invalidateTagGroups(ctx context.Context, t string, groups []int, logHere bool, msg []byte, now, life int64, total *int) error {
	pending := groups
	for len(pending) > 0 {
		calls := make([]scriptCall, len(pending))
		for i, g := range pending {
			keys, logMax := []string{b.l.tagSet(g, t), b.l.tagStamp(g, t)}, ""
			if logHere && g == 0 {
				keys, logMax = b.scriptLog(keys)
			}
			calls[i] = scriptCall{
				keys: keys,
				args: []any{b.l.base(g), now, tagBatch, life, logMax, msg},
			}
		}
		cmds, err := b.runScripts(ctx, invalidateTagScript, calls)
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		next := pending[:0:0]
		for i, c := range cmds {
			vs, err := c.Int64Slice()
			if err != nil {
				return err
			}
			if len(vs) == 2 {
				*total += int(vs[0])
				if vs[1] >= tagBatch {
					next = append(next, pending[i])
				}
			}
		}
		pending = next
	}
	return nil
}

func (b *redisBackend) invalidateMatch(ctx context.Context, scanGlob string, keep func(esc string) bool) (int, error) {
	match := b.l.prefix + "{g*}?:" + scanGlob
	// scanNode SCANs one node; deletes go through b.c, which on a cluster
	// routes each key to its slot's owner.
	scanNode := func(ctx context.Context, node redis.UniversalClient) (int, error) {
		total := 0
		var cursor uint64
		for {
			names, next, err := node.Scan(ctx, cursor, match, scanCount).Result()
			if err != nil {
				return total, err
			}
			var del []key
			for _, n := range names {
				if kind, esc, ok := b.l.parse(n); ok && keep(esc) {
					del = append(del, b.l.key(kind, esc))
				}
			}
			if len(del) > 0 {
				n, err := b.delete(ctx, del)
				total += n
				if err != nil {
					return total, err
				}
			}
			if cursor = next; cursor == 0 {
				return total, nil
			}
		}
	}
	if cc, ok := b.c.(*redis.ClusterClient); ok {
		var total atomic.Int64
		err := cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			n, err := scanNode(ctx, m)
			total.Add(int64(n))
			return err
		})
		return int(total.Load()), err
	}
	return scanNode(ctx, b.c)
}

func (b *redisBackend) liveKeys(ctx context.Context, routes []string) (map[string]int64, error) {
	out := make(map[string]int64, len(routes))
	if len(routes) == 0 {
		return out, nil
	}
	now := strconv.FormatInt(b.now().UnixMilli(), 10)
	cmds := make([]*redis.IntCmd, 0, len(routes)*b.l.groups)
	_, err := b.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, r := range routes {
			for g := 0; g < b.l.groups; g++ {
				cmds = append(cmds, p.ZCount(ctx, b.l.live(g, r), "("+now, "+inf"))
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	i := 0
	for _, r := range routes {
		var n int64
		for g := 0; g < b.l.groups; g++ {
			n += cmds[i].Val()
			i++
		}
		out[r] = n
	}
	return out, nil
}
