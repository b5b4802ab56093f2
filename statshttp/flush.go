package statshttp

import (
	"context"
	_ "embed"
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/aura-platform/redishttp/middleware"
	"github.com/redis/go-redis/v9"
)

// Redis layout, every key under Prefix and the hash tag {stats}:
//
//	<prefix>{stats}:total          hash "kind:name" -> count, all instances ever (HINCRBY), TTL Retention
//	<prefix>{stats}:inst:<id>      hash "kind:name" -> count of one instance (HSET) + "@..." meta, TTL InstanceTTL
//	<prefix>{stats}:instances      sorted set id -> last flush or heartbeat (unix ms), TTL InstanceTTL
const (
	fieldBackend = "@backend"
	fieldSince   = "@since"
	fieldStarted = "@started"
	fieldSeen    = "@seen"
)

// heartbeat refreshes an idle instance's presence in one command.
//
//go:embed heartbeat.lua
var heartbeatLua string

var heartbeat = redis.NewScript(heartbeatLua)

func (r *Recorder) totalKey() string         { return r.cfg.Prefix + r.cfg.tag + ":total" }
func (r *Recorder) instancesKey() string     { return r.cfg.Prefix + r.cfg.tag + ":instances" }
func (r *Recorder) instKey(id string) string { return r.cfg.Prefix + r.cfg.tag + ":inst:" + id }

// run flushes every FlushInterval until Close, then once more.
func (r *Recorder) run() {
	defer close(r.done)
	t := time.NewTicker(r.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = r.flushTimed()
		case <-r.stop:
			r.closeErr = r.flushTimed()
			return
		}
	}
}

func (r *Recorder) flushTimed() error {
	timeout := min(r.cfg.FlushInterval, r.cfg.ReadTimeout)
	timeout = max(timeout, 100*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return r.Flush(ctx)
}

// pendingDelta is a count added to the totals by the flush in progress.
type pendingDelta struct {
	rs  *routeStats
	k   middleware.EventKind
	cur int64
}

// Flush adds this instance's new counts to the cluster-wide totals and
// refreshes its own figures, in one MULTI/EXEC round trip. The background
// goroutine calls it every FlushInterval; call it directly to publish counts
// at once (before a report in a test, say). When nothing changed since the
// last flush (no new count, the same backend state), it sends nothing, or,
// once per InstanceTTL/3, one heartbeat command (a script) that keeps the
// instance listed; an idle instance therefore costs one command per
// InstanceTTL/3. With a nil client it does nothing. On error nothing is
// lost: the counts go out with the next flush. A reply lost after Redis
// applied the transaction counts those events twice, the only way the
// totals can overcount.
func (r *Recorder) Flush(ctx context.Context) error {
	if r.client == nil {
		return nil
	}
	r.flushMu.Lock()
	defer r.flushMu.Unlock()

	now := time.Now()
	state, since := r.backendNow()
	if r.written && state == r.wroteState && since.Equal(r.wroteSince) && !r.changed() {
		if now.Sub(r.wroteAt) < r.cfg.InstanceTTL/3 {
			return nil
		}
		ok, err := heartbeat.Run(ctx, r.client, []string{r.instKey(r.cfg.InstanceID), r.instancesKey()},
			now.UnixMilli(), r.cfg.InstanceTTL.Milliseconds(), r.cfg.InstanceID).Int()
		r.flushes.Add(1)
		if err != nil {
			return r.flushFailure(err)
		}
		r.flushRecovered()
		if ok == 1 {
			r.wroteAt = now
			return nil
		}
		// The record is gone: write it in full below.
	}
	inst := []any{fieldBackend, state, fieldStarted, r.started.UnixMilli(), fieldSeen, now.UnixMilli()}
	if !since.IsZero() {
		inst = append(inst, fieldSince, since.UnixMilli())
	}
	pipe := r.client.TxPipeline()
	total := r.totalKey()
	var pending []pendingDelta
	for _, t := range []*table{r.routes, r.backend} {
		for _, rs := range t.all() {
			for k := middleware.EventKind(1); int(k) < numKinds; k++ {
				cur := rs.n[k].Load()
				if cur == 0 {
					continue
				}
				f := rs.field(k)
				inst = append(inst, f, cur)
				if d := cur - rs.flushed[k]; d != 0 {
					pipe.HIncrBy(ctx, total, f, d)
					pending = append(pending, pendingDelta{rs, k, cur})
				}
			}
		}
	}
	if len(pending) > 0 {
		pipe.PExpire(ctx, total, r.cfg.Retention)
	}
	ik := r.instKey(r.cfg.InstanceID)
	pipe.HSet(ctx, ik, inst...)
	pipe.PExpire(ctx, ik, r.cfg.InstanceTTL)
	set := r.instancesKey()
	pipe.ZAdd(ctx, set, redis.Z{Score: float64(now.UnixMilli()), Member: r.cfg.InstanceID})
	pipe.ZRemRangeByScore(ctx, set, "-inf", "("+strconv.FormatInt(now.Add(-r.cfg.InstanceTTL).UnixMilli(), 10))
	pipe.PExpire(ctx, set, r.cfg.InstanceTTL)
	_, err := pipe.Exec(ctx)
	r.flushes.Add(1)
	if err != nil {
		return r.flushFailure(err)
	}
	r.flushRecovered()
	for _, p := range pending {
		p.rs.flushed[p.k] = p.cur
	}
	r.written, r.wroteAt, r.wroteState, r.wroteSince = true, now, state, since
	return nil
}

// changed reports whether any count differs from what was last flushed.
func (r *Recorder) changed() bool {
	for _, t := range []*table{r.routes, r.backend} {
		for _, rs := range t.all() {
			for k := middleware.EventKind(1); int(k) < numKinds; k++ {
				if rs.n[k].Load() != rs.flushed[k] {
					return true
				}
			}
		}
	}
	return false
}

// flushFailure counts and logs (once per outage) a failed flush.
func (r *Recorder) flushFailure(err error) error {
	r.flushErrors.Add(1)
	if !r.flushFailed {
		r.flushFailed = true
		r.cfg.Logger.Warn("statshttp: flush to redis failed; counting locally until it recovers",
			"instance", r.cfg.InstanceID, "error", logText(err))
	}
	return err
}

// flushRecovered logs the first successful flush after a failure.
func (r *Recorder) flushRecovered() {
	if r.flushFailed {
		r.flushFailed = false
		r.cfg.Logger.Info("statshttp: flush to redis recovered", "instance", r.cfg.InstanceID)
	}
}

// logText describes a flush error for the log: Redis replies and network
// errors as they are (they carry no credentials), anything else by class
// only, so nothing unexpected ends up in logs.
func logText(err error) string {
	var re redis.Error
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &re):
		return re.Error()
	case errors.As(err, &ne):
		if ne.Timeout() {
			return "network timeout"
		}
		var op *net.OpError
		if errors.As(err, &op) {
			return op.Error()
		}
		return "network error"
	case errors.Is(err, redis.ErrClosed):
		return "client closed"
	}
	return "error"
}
