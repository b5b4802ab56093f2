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

// FuzzDecodeEntry: decoding arbitrary bytes (a corrupted or foreign value
// under a cache key) never panics and either fails with ErrCorruptEntry or
// yields an entry that encodes back to the same bytes; an encoded entry
// always decodes to itself.
func FuzzDecodeEntry(f *testing.F) {
	f.Add("route", []byte("payload"), "etag", "tag", "Accept", "text/html", int64(1000), int64(2000))
	f.Add("", []byte{}, "", "", "", "", int64(0), int64(0))
	f.Add("r", []byte{0xFE, entryMagic, entryVersion}, "\"x\"", "a:b", "X", "", int64(-1), int64(1<<62))
	f.Fuzz(func(t *testing.T, route string, payload []byte, etag, tag, vn, vv string, stored, fresh int64) {
		if len(route) > 255 {
			route = route[:255]
		}
		e := entry{route: route, kind: 'h', stored: stored, fresh: fresh, stale: fresh + 1, errUntil: fresh + 2,
			tags: []string{tag}, vary: []string{vn, vv}, etag: etag, payload: payload}
		enc := e.encode()
		got, err := decodeEntry(enc)
		if err != nil {
			t.Fatalf("encoded entry does not decode: %v", err)
		}
		if got.route != e.route || got.stored != e.stored || got.fresh != e.fresh || got.etag != e.etag ||
			string(got.payload) != string(e.payload) || len(got.tags) != 1 || got.tags[0] != tag ||
			len(got.vary) != 2 || got.vary[0] != vn || got.vary[1] != vv {
			t.Fatalf("round trip: %+v != %+v", got, e)
		}
		// Arbitrary bytes: the payload itself, and the encoding with one
		// byte flipped.
		for _, v := range [][]byte{payload, flip(enc, len(payload))} {
			d, err := decodeEntry(v)
			if err != nil {
				if err != ErrCorruptEntry {
					t.Fatalf("error %v, want ErrCorruptEntry", err)
				}
				continue
			}
			if re := d.encode(); string(re) != string(v) && v[1]&purgedBit == 0 {
				t.Fatalf("decoded garbage re-encodes differently")
			}
		}
	})
}

// flip returns a copy of b with the byte at i mod len(b) inverted.
func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	if len(c) > 0 {
		c[i%len(c)] ^= 0xFF
	}
	return c
}
