package cachehttp

import (
	"net/http"
	"sync"
)

// keyMemo remembers, per route using defaultKey, the logical key and the
// physical key a request resolves to, so a repeated request (every cache
// hit) builds neither string again. The memo key holds exactly the inputs of
// defaultKey and escKey (without Vary names), so a memoised key is always
// the one they would compute. It is bounded: cleared when full, and long
// URLs are not memoised.
type keyMemo struct {
	mu sync.RWMutex
	m  map[memoKey]*memoVal
}

type memoKey struct {
	method, host, path, query, user, ver string
	tls                                  bool
}

type memoVal struct {
	base string
	k    key
}

const (
	keyMemoMax    = 4096 // entries per route
	keyMemoMaxLen = 512  // longest host+path+query memoised
)

// memoKeyOf returns r's memo key (method mi: 0 GET, 1 HEAD), ok false when
// r is not memoisable.
func memoKeyOf(r *http.Request, user, ver string) (memoKey, bool) {
	path := r.URL.EscapedPath()
	if len(r.Host)+len(path)+len(r.URL.RawQuery) > keyMemoMaxLen {
		return memoKey{}, false
	}
	m := r.Method
	if m == http.MethodHead {
		m = http.MethodGet
	}
	return memoKey{method: m, host: r.Host, path: path, query: r.URL.RawQuery, user: user, ver: ver, tls: r.TLS != nil}, true
}

func (km *keyMemo) get(mk memoKey) *memoVal {
	km.mu.RLock()
	v := km.m[mk]
	km.mu.RUnlock()
	return v
}

func (km *keyMemo) put(mk memoKey, v *memoVal) {
	km.mu.Lock()
	if km.m == nil || len(km.m) >= keyMemoMax {
		km.m = make(map[memoKey]*memoVal)
	}
	km.m[mk] = v
	km.mu.Unlock()
}
