package statshttp

import (
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aura-platform/redishttp/middleware"
)

// numKinds sizes per-route counter arrays, indexed by EventKind directly.
const numKinds = int(middleware.BackendChange) + 1

// kindByName maps EventKind.String() back to the kind, for decoding Redis
// fields.
var kindByName = func() map[string]middleware.EventKind {
	m := make(map[string]middleware.EventKind, numKinds)
	for k := middleware.EventKind(1); int(k) < numKinds; k++ {
		m[k.String()] = k
	}
	return m
}()

// routeStats holds one route's counters. The counters are atomics updated
// on the request path; flushed is what has already been added to the Redis
// totals and is only touched under Recorder.flushMu.
type routeStats struct {
	name    string
	n       [numKinds]atomic.Int64
	flushed [numKinds]int64
	fields  [numKinds]string // Redis hash field names, built lazily under flushMu
}

func (rs *routeStats) field(k middleware.EventKind) string {
	if rs.fields[k] == "" {
		rs.fields[k] = fieldName(k, rs.name)
	}
	return rs.fields[k]
}

// fieldName is the Redis hash field of a kind's counter for a name:
// "cache_hit:Product Pages". Kind names hold no colon, so the first colon
// splits it back.
func fieldName(k middleware.EventKind, name string) string { return k.String() + ":" + name }

// table maps names to counters. Reads are lock-free (an atomic pointer to a
// map that is never modified once published); adding a name copies the map
// under mu, which only happens the first time a name is seen, at most max
// times. Once full, unknown names go to the overflow entry without locking.
type table struct {
	m     atomic.Pointer[map[string]*routeStats]
	full  atomic.Bool
	mu    sync.Mutex
	max   int
	other *routeStats
	order []*routeStats // insertion order, guarded by mu
}

func newTable(max int, names ...string) *table {
	t := &table{max: max, other: &routeStats{name: overflowRoute}}
	m := map[string]*routeStats{overflowRoute: t.other}
	t.order = []*routeStats{}
	for _, n := range names {
		if n == "" {
			n = defaultRoute
		}
		if m[n] == nil {
			rs := &routeStats{name: n}
			m[n] = rs
			t.order = append(t.order, rs)
		}
	}
	t.m.Store(&m)
	t.full.Store(len(m) >= max)
	return t
}

// get returns name's counters, adding them if there is room.
func (t *table) get(name string) *routeStats {
	if rs := (*t.m.Load())[name]; rs != nil {
		return rs
	}
	if name == "" {
		return t.get(defaultRoute)
	}
	if t.full.Load() {
		return t.other
	}
	return t.add(name)
}

func (t *table) add(name string) *routeStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.m.Load()
	if rs := old[name]; rs != nil {
		return rs
	}
	if len(old) >= t.max {
		t.full.Store(true)
		return t.other
	}
	m := make(map[string]*routeStats, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	rs := &routeStats{name: name}
	m[name] = rs
	t.order = append(t.order, rs)
	t.m.Store(&m)
	if len(m) >= t.max {
		t.full.Store(true)
	}
	return rs
}

// all returns every entry: declared and seen names in insertion order, then
// the overflow entry.
func (t *table) all() []*routeStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*routeStats, 0, len(t.order)+1)
	out = append(out, t.order...)
	return append(out, t.other)
}

// counts is a point-in-time copy of counters: name -> per-kind values.
type counts map[string]*[numKinds]int64

func (c counts) add(name string, k middleware.EventKind, v int64) {
	a := c[name]
	if a == nil {
		a = new([numKinds]int64)
		c[name] = a
	}
	a[k] += v
}

// sum adds up kind k over every name.
func (c counts) sum(k middleware.EventKind) int64 {
	var s int64
	for _, a := range c {
		s += a[k]
	}
	return s
}

// sortedNames returns the names in c, sorted.
func (c counts) sortedNames() []string {
	names := make([]string, 0, len(c))
	for n := range c {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// parseFields decodes a Redis hash of "kind:name" -> integer fields into
// route counts and backend change counts; other fields are ignored.
func parseFields(h map[string]string, routes, backend counts) {
	for f, v := range h {
		i := strings.IndexByte(f, ':')
		if i <= 0 {
			continue
		}
		k, ok := kindByName[f[:i]]
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			continue
		}
		if k == middleware.BackendChange {
			backend.add(f[i+1:], k, n)
		} else {
			routes.add(f[i+1:], k, n)
		}
	}
}
