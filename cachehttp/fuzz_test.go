package cachehttp

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzKey: building a key never panics, and two requests map to one physical
// key only when their keyed parts (method, host, path, normalised query,
// user) are the same.
func FuzzKey(f *testing.F) {
	f.Add("GET", "a.com", "/p", "a=1&b=2", "u1", "HEAD", "a.com", "/p", "b=2&a=1", "u1")
	f.Add("GET", "a.com", "/x:y", "q=1", "", "GET", "a.com", "/x", "y:q=1", "")
	f.Add("GET", "h", "/%2F", "", "a|ub", "GET", "h", "//", "", "a")
	f.Fuzz(func(t *testing.T, m1, h1, p1, q1, u1, m2, h2, p2, q2, u2 string) {
		l := layout{prefix: "f:", groups: 16}
		build := func(m, h, p, q, u string) (string, string, bool) {
			r := &http.Request{Method: m, Host: h, URL: &url.URL{Path: p, RawQuery: q}, Header: http.Header{}}
			k, err := defaultKey(r)
			if err != nil {
				return "", "", false
			}
			rc := &RouteCache{}
			req := &request{base: k, user: u}
			name := l.key(kindHTTP, rc.escKey(req, r, nil)).name
			if m == http.MethodHead {
				m = http.MethodGet
			}
			canon := m + "\x00" + strings.ToLower(h) + "\x00" + r.URL.EscapedPath() + "\x00" +
				r.URL.Query().Encode() + "\x00" + u
			return name, canon, true
		}
		n1, c1, ok1 := build(m1, h1, p1, q1, u1)
		n2, c2, ok2 := build(m2, h2, p2, q2, u2)
		if !ok1 || !ok2 {
			return
		}
		if strings.ContainsAny(n1[len("f:{g00}"):], "{}*?[] \x00\n") {
			t.Fatalf("unsafe key %q", n1)
		}
		if (n1 == n2) != (c1 == c2) {
			t.Fatalf("keys %q, %q for requests %q, %q", n1, n2, c1, c2)
		}
		if _, _, ok := l.parse(n1); !ok {
			t.Fatalf("unparseable key %q", n1)
		}
	})
}
