package statshttp

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"time"

	"github.com/aura-platform/redishttp/middleware"
	"github.com/redis/go-redis/v9"
)

// maxInstances bounds how many other instances a report lists.
const maxInstances = 1000

// readCluster reads the cluster-wide totals and the other live instances'
// figures (two round trips), and adds this instance's counts not flushed
// yet to the totals. It holds flushMu so that a flush in flight is either
// wholly in the totals read or wholly in the local remainder, never both.
// It also returns this instance's current counts, taken at the same moment.
func (r *Recorder) readCluster(ctx context.Context, now time.Time) (routes, backend counts, others []instanceData, local, localBackend counts, err error) {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()

	pipe := r.client.Pipeline()
	minSeen := strconv.FormatInt(now.Add(-r.cfg.InstanceTTL).UnixMilli(), 10)
	ids := pipe.ZRangeByScore(ctx, r.instancesKey(), &redis.ZRangeBy{Min: minSeen, Max: "+inf", Count: maxInstances + 1})
	total := pipe.HGetAll(ctx, r.totalKey())
	if _, err = pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return
	}
	err = nil
	routes, backend = counts{}, counts{}
	parseFields(total.Val(), routes, backend)
	local, localBackend = counts{}, counts{}
	for _, t := range []struct {
		tab        *table
		pend, curr counts
	}{{r.routes, routes, local}, {r.backend, backend, localBackend}} {
		for _, rs := range t.tab.all() {
			a := new([numKinds]int64)
			for k := range a {
				a[k] = rs.n[k].Load()
				if d := a[k] - rs.flushed[k]; d != 0 {
					t.pend.add(rs.name, middleware.EventKind(k), d)
				}
			}
			t.curr[rs.name] = a
		}
	}

	var hashes []*redis.MapStringStringCmd
	var names []string
	pipe = r.client.Pipeline()
	for _, id := range ids.Val() {
		if id == r.cfg.InstanceID || len(names) == maxInstances {
			continue
		}
		names = append(names, id)
		hashes = append(hashes, pipe.HGetAll(ctx, r.instKey(id)))
	}
	if len(names) == 0 {
		return
	}
	if _, err = pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return
	}
	err = nil
	for i, h := range hashes {
		vals := h.Val()
		if len(vals) == 0 { // expired between the two reads
			continue
		}
		in := instanceData{id: names[i], routes: counts{}, backend: counts{}, state: vals[fieldBackend]}
		parseFields(vals, in.routes, in.backend)
		in.started = unixMilli(vals[fieldStarted])
		in.seen = unixMilli(vals[fieldSeen])
		in.since = unixMilli(vals[fieldSince])
		if in.state == "" {
			in.state = "unknown"
		}
		others = append(others, in)
	}
	sort.Slice(others, func(i, j int) bool { return others[i].id < others[j].id })
	return
}

func unixMilli(s string) time.Time {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
