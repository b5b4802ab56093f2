package fallback

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// errProbeTimeout is the failure recorded for a probe that got no answer in
// time.
var errProbeTimeout = errors.New("fallback: health probe got no answer within the command timeout")

// probe PINGs Redis, or with write writes the probe key (every master's on
// a Cluster, see MonitorOptions.ProbeKey), and waits at most CommandTimeout
// for the answer, even when the client ignores context deadlines (see
// honoursContext): the command runs on its own goroutine and is abandoned,
// not awaited, when it is late. While an abandoned probe is still waiting,
// later probes fail at once instead of piling more goroutines onto a hung
// server.
func (m *Monitor) probe(write bool) error {
	if !m.probing.CompareAndSwap(false, true) {
		return errProbeTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.opts.CommandTimeout)
	res := make(chan error, 1)
	m.probes.Add(1)
	go func() {
		defer m.probes.Done()
		defer m.probing.Store(false)
		defer cancel()
		if write {
			res <- m.writeProbe(ctx)
		} else {
			res <- m.client.Ping(ctx).Err()
		}
	}()
	t := time.NewTimer(m.opts.CommandTimeout)
	defer t.Stop()
	select {
	case err := <-res:
		return err
	case <-t.C:
		return errProbeTimeout
	}
}

// probeTTL is how long a probe key lives: long enough to outlast the next
// probe, short enough that the keys never pile up.
func (m *Monitor) probeTTL() time.Duration {
	return max(time.Second, 2*m.opts.ProbeInterval)
}

// writeProbe sets the probe key, or on a Cluster one key per master in one
// pipeline (one round trip per master, in parallel).
func (m *Monitor) writeProbe(ctx context.Context) error {
	cc, ok := m.client.(*redis.ClusterClient)
	if !ok {
		return m.client.Set(ctx, m.opts.ProbeKey, "1", m.probeTTL()).Err()
	}
	keys, err := m.clusterProbeKeys(ctx, cc)
	if err != nil {
		return err
	}
	_, err = cc.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Set(ctx, k, "1", m.probeTTL())
		}
		return nil
	})
	return err
}

// clusterKeysTTL is how long the cluster probe keys are trusted before the
// slot map is read again (a resharding or failover moves slots).
const clusterKeysTTL = 5 * time.Second

// clusterProbeKeys returns one probe key per master of cc's current slot
// map, "<ProbeKey>:{<n>}" with the smallest n whose slot that master serves.
func (m *Monitor) clusterProbeKeys(ctx context.Context, cc *redis.ClusterClient) ([]string, error) {
	m.keysMu.Lock()
	defer m.keysMu.Unlock()
	if m.keys != nil && time.Since(m.keysAt) < clusterKeysTTL {
		return m.keys, nil
	}
	ranges, err := masterRanges(ctx, cc)
	if err != nil {
		return nil, err
	}
	m.keys, m.keysAt = clusterKeysFor(m.opts.ProbeKey, ranges), time.Now()
	return m.keys, nil
}

// slotRange is a range of hash slots and the master serving it.
type slotRange struct {
	start, end int
	master     string
}

// masterRanges reads the cluster's slot map: CLUSTER SHARDS (Redis 7),
// else CLUSTER SLOTS (older servers).
func masterRanges(ctx context.Context, cc *redis.ClusterClient) ([]slotRange, error) {
	var out []slotRange
	shards, err := cc.ClusterShards(ctx).Result()
	if err == nil {
		for _, sh := range shards {
			master := ""
			for _, n := range sh.Nodes {
				if n.Role == "master" {
					master = n.ID
				}
			}
			for _, r := range sh.Slots {
				if master != "" {
					out = append(out, slotRange{int(r.Start), int(r.End), master})
				}
			}
		}
		return out, nil
	}
	//lint:ignore SA1019 the fallback for servers older than Redis 7, which lack CLUSTER SHARDS
	slots, err2 := cc.ClusterSlots(ctx).Result()
	if err2 != nil {
		return nil, err
	}
	for _, r := range slots {
		if len(r.Nodes) > 0 {
			out = append(out, slotRange{r.Start, r.End, r.Nodes[0].Addr})
		}
	}
	return out, nil
}

// clusterKeysFor picks one key per master in ranges.
func clusterKeysFor(base string, ranges []slotRange) []string {
	owner := make([]string, clusterSlots) // slot → master ("" when unserved)
	need := make(map[string]bool)
	for _, r := range ranges {
		for s := max(r.start, 0); s <= r.end && s < clusterSlots; s++ {
			owner[s] = r.master
		}
		need[r.master] = true
	}
	keys := make([]string, 0, len(need))
	for n := 0; len(need) > 0 && n < 1<<20; n++ {
		tag := strconv.Itoa(n)
		if master := owner[keySlot(tag)]; need[master] {
			delete(need, master)
			keys = append(keys, base+":{"+tag+"}")
		}
	}
	if len(keys) == 0 {
		keys = append(keys, base)
	}
	return keys
}

// clusterSlots is the number of Redis Cluster hash slots.
const clusterSlots = 16384

// keySlot is the Cluster hash slot of a hash tag: CRC16 (XMODEM) mod 16384.
func keySlot(tag string) int {
	var crc uint16
	for i := 0; i < len(tag); i++ {
		crc ^= uint16(tag[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % clusterSlots
}
