package cachehttp

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// TestKeyMemoMatchesFreshKeys checks that the memoised keys are exactly the
// ones defaultKey and escKey compute, for requests that differ in each memo
// input, and that requests defaultKey maps together share one entry.
func TestKeyMemoMatchesFreshKeys(t *testing.T) {
	c, err := New(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var runs atomic.Int32
	rc, err := c.NewRoute(Route{Name: "memo"})
	if err != nil {
		t.Fatal(err)
	}
	h := rc.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs.Add(1)
		_, _ = fmt.Fprintf(w, "%s %s", r.Host, r.URL.RequestURI())
	}))
	mk := func(method, host, target string, secure bool) *http.Request {
		r := httptest.NewRequest(method, target, nil)
		r.Host = host
		if secure {
			r.TLS = &tls.ConnectionState{}
		}
		return r
	}
	reqs := []*http.Request{
		mk("GET", "example.com", "/a?x=1&y=2", false),
		mk("HEAD", "example.com", "/a?x=1&y=2", false), // keyed as GET
		mk("GET", "Example.COM", "/a?x=1&y=2", false),  // host lower-cased
		mk("GET", "example.com", "/a?y=2&x=1", false),  // query normalised
		mk("GET", "example.com", "/a?x=1&y=2", true),   // https: another key
		mk("GET", "example.com", "/a%2Fb?x=1", false),  // escaped path
		mk("GET", "example.com", "/a/b?x=1", false),    // another path
		mk("GET", "example.com", "/a?x=1&y=2", false),  // repeat: memo hit
		mk("HEAD", "Example.COM", "/a?y=2&x=1", false), // all of the above
	}
	for _, r := range reqs {
		for range 2 { // the second pass is served from the memo
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 200 {
				t.Fatalf("%s %s%s: status %d", r.Method, r.Host, r.URL, w.Code)
			}
		}
		base, _ := defaultKey(r)
		q := request{base: base, ver: c.schemaSuffix}
		want := c.l.key(kindHTTP, rc.escKey(&q, r, nil))
		m, ok := memoKeyOf(r, "", c.schemaSuffix)
		if !ok {
			t.Fatalf("%s not memoisable", r.URL)
		}
		got := rc.keys.get(m)
		if got == nil || got.base != base || got.k != want {
			t.Fatalf("%s %s%s: memo %+v, want base %q key %+v", r.Method, r.Host, r.URL, got, base, want)
		}
	}
	// Distinct entries: GET http /a?x=1&y=2 (shared by 6 requests), https,
	// /a%2Fb, /a/b.
	if n := runs.Load(); n != 4 {
		t.Fatalf("handler ran %d times, want 4", n)
	}
}

// TestKeyMemoBounded checks that hostile distinct URLs cannot grow the memo
// past its bound and that long URLs are not memoised.
func TestKeyMemoBounded(t *testing.T) {
	c, err := New(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, err := c.NewRoute(Route{Name: "bound"})
	if err != nil {
		t.Fatal(err)
	}
	h := rc.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }))
	for i := range keyMemoMax + 100 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", fmt.Sprintf("/p?i=%d", i), nil))
		if n := len(rc.keys.m); n > keyMemoMax {
			t.Fatalf("memo holds %d entries, bound %d", n, keyMemoMax)
		}
	}
	long := httptest.NewRequest("GET", "/"+fmt.Sprintf("%0*d", keyMemoMaxLen, 7), nil)
	if _, ok := memoKeyOf(long, "", ""); ok {
		t.Fatal("URL longer than keyMemoMaxLen memoised")
	}
}
