package cachehttp

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// markPurged makes a decoded soft-purged entry no longer fresh. It stays
// servable stale only within its stale-while-revalidate window (which then
// triggers one refresh) and for stale-if-error.
func (e *entry) markPurged() {
	if e.stale <= e.fresh { // no stale-while-revalidate window
		e.stale = e.stored
	}
	e.fresh = e.stored
}

// purgedCopy returns v with the soft-purge bit set (a copy), or nil when v
// is not an unpurged entry.
func purgedCopy(v []byte) []byte {
	if len(v) < 2 || v[0] != entryMagic || v[1]&purgedBit != 0 {
		return nil
	}
	cp := append([]byte(nil), v...)
	cp[1] |= purgedBit
	return cp
}

func (b *redisBackend) softPurgeTags(ctx context.Context, tags []string) (int, error) {
	total := 0
	now := b.now().UnixMilli()
	life := b.stampLife.Milliseconds()
	msg := encodeMsg(msgTags, tags)
	for ti, t := range tags {
		// As in invalidateTags: on one node the last tag's group 0 runs
		// last, and its last run appends the call's entry to the log.
		logHere := b.inScript && ti == len(tags)-1
		for _, phase := range b.tagPhases(logHere) {
			if err := b.softPurgeTagGroups(ctx, t, phase, logHere, msg, now, life, &total); err != nil {
				return total, err
			}
		}
	}
	return total, nil
}

// softPurgeTagGroups runs soft_purge_tag.lua for tag t on groups until
// their scans end; with logHere, group 0's last run appends msg.
func (b *redisBackend) softPurgeTagGroups(ctx context.Context, t string, groups []int, logHere bool, msg []byte, now, life int64, total *int) error {
	cursors := make(map[int]string, len(groups))
	for _, g := range groups {
		cursors[g] = "0"
	}
	for len(cursors) > 0 {
		run := make([]int, 0, len(cursors))
		calls := make([]scriptCall, 0, len(cursors))
		for g, cur := range cursors {
			run = append(run, g)
			keys, logMax := []string{b.l.tagSet(g, t), b.l.tagStamp(g, t)}, ""
			if logHere && g == 0 {
				keys, logMax = b.scriptLog(keys)
			}
			calls = append(calls, scriptCall{
				keys: keys,
				args: []any{now, cur, tagBatch, life, logMax, msg},
			})
		}
		cmds, err := b.runScripts(ctx, softPurgeTagScript, calls)
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		for i, cmd := range cmds {
			vs, err := cmd.Slice()
			if err != nil || len(vs) != 2 {
				return err
			}
			n, _ := vs[0].(int64)
			*total += int(n)
			next, _ := vs[1].(string)
			if next == "0" || next == "" {
				delete(cursors, run[i])
			} else {
				cursors[run[i]] = next
			}
		}
	}
	return nil
}

func (m *memoryBackend) softPurgeTags(tags []string) int {
	m.stamp(tags)
	n := 0
	for _, t := range tags {
		for _, name := range m.idx.members(t) {
			m.work.Add(1)
			if m.purge(name) {
				n++
			}
		}
	}
	return n
}

// purge marks the entry under name as soft-purged, keeping its TTL, and
// reports whether it did (false when it is gone or purged already).
func (m *memoryBackend) purge(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.s.Get(name)
	if !ok {
		return false
	}
	ttl, ok := m.s.TTL(name)
	cp := purgedCopy(v)
	if !ok || ttl <= 0 || cp == nil || !m.idx.rebind(name, &v[0], &cp[0]) {
		return false
	}
	m.s.Set(name, cp, ttl)
	return true
}
