package cachehttp

import (
	"crypto/tls"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestDefaultKey(t *testing.T) {
	mk := func(method, target string, secure bool) string {
		r, _ := http.NewRequest(method, target, nil)
		r.Host = r.URL.Host
		if secure {
			r.TLS = &tls.ConnectionState{}
		}
		k, err := defaultKey(r)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	same := [][2]string{
		{"http://a.com/p?b=2&a=1", "http://a.com/p?a=1&b=2"},
		{"http://A.com/p", "http://a.com/p"},
	}
	for _, p := range same {
		if mk("GET", p[0], false) != mk("GET", p[1], false) {
			t.Errorf("%s and %s keyed differently", p[0], p[1])
		}
	}
	if mk("HEAD", "http://a.com/p", false) != mk("GET", "http://a.com/p", false) {
		t.Error("HEAD not keyed as GET")
	}
	diff := [][2]string{
		{"http://a.com/p?a=1&a=2", "http://a.com/p?a=2&a=1"},
		{"http://a.com/a%2Fb", "http://a.com/a/b"},
		{"http://a.com/p?x=1:2", "http://a.com/p:x=1?2"},
		{"http://a.com/p", "http://b.com/p"},
	}
	for _, p := range diff {
		if mk("GET", p[0], false) == mk("GET", p[1], false) {
			t.Errorf("%s and %s share a key", p[0], p[1])
		}
	}
	if mk("GET", "http://a.com/p", true) == mk("GET", "http://a.com/p", false) {
		t.Error("scheme not in key")
	}
}

func TestEscapeKeyAndGlob(t *testing.T) {
	for _, s := range []string{"", "a:b", "a b", "x{y}z", "*?[]\\", "%41", "é", strings.Repeat("z", 600)} {
		e := escapeKey(s)
		if strings.ContainsAny(e, "{}*?[]\\| ") {
			t.Errorf("escapeKey(%q) = %q has unsafe bytes", s, e)
		}
		if back, ok := unescapeKey(e); len(s) <= maxKeyLen && (!ok || back != s) {
			t.Errorf("unescape(escape(%q)) = %q %v", s, back, ok)
		}
	}
	cases := []struct {
		p, s string
		want bool
	}{
		{"a*", "abc", true}, {"a?c", "abc", true}, {"a?c", "ac", false},
		{"[ab]x", "bx", true}, {"[^ab]x", "bx", false}, {"[a-c]", "b", true},
		{EscapeGlob("a*b"), "a*b", true}, {EscapeGlob("a*b"), "axb", false},
		{EscapeGlob("[x]"), "[x]", true}, {EscapeGlob("[x]"), "x", false},
		{"user:" + EscapeGlob("4?") + ":*", "user:42:x", false},
		{"user:" + EscapeGlob("4?") + ":*", "user:4?:x", true},
	}
	for _, c := range cases {
		if _, err := scanPattern(c.p); err != nil {
			t.Fatalf("scanPattern(%q): %v", c.p, err)
		}
		if got := globMatch(c.p, c.s); got != c.want {
			t.Errorf("globMatch(%q, %q) = %v", c.p, c.s, got)
		}
		// The SCAN superset must match whenever the exact glob does.
		sp, _ := scanPattern(c.p)
		if c.want && !globMatch(sp, escapeKey(c.s)) {
			t.Errorf("scan pattern %q misses %q", sp, escapeKey(c.s))
		}
	}
	for _, bad := range []string{"a[b", "a\\", "a]"} {
		if _, err := scanPattern(bad); err == nil {
			t.Errorf("scanPattern(%q) accepted", bad)
		}
	}
}

func TestLayoutParse(t *testing.T) {
	l := layout{prefix: "p:", groups: 64}
	k := l.key(kindHTTP, "a:b|uX")
	kind, esc, ok := l.parse(k.name)
	if !ok || kind != kindHTTP || esc != "a:b|uX" {
		t.Fatalf("parse(%q) = %c %q %v", k.name, kind, esc, ok)
	}
	for _, bad := range []string{"q:{g1}h:x", "p:{g}h:x", "p:{g1}x:y", "p:{g1h:x", "p:"} {
		if _, _, ok := l.parse(bad); ok {
			t.Errorf("parse(%q) accepted", bad)
		}
	}
}

func TestOptionsValidation(t *testing.T) {
	for _, o := range []Options{{Prefix: "a{b"}, {Prefix: "a*"}, {Name: "x;y"}, {Groups: -1}} {
		if _, err := New(nil, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	c := newTestCache(t, nil, "v:", Options{})
	for _, rt := range []Route{{Statuses: []int{500}}, {Statuses: []int{206}}, {Name: strings.Repeat("n", 256)}, {MaxBody: -1}} {
		if _, err := c.NewRoute(rt); err == nil {
			t.Errorf("route %+v accepted", rt.Statuses)
		}
	}
	_ = url.Values{}
}

func TestCanonicalRawQueryFastPath(t *testing.T) {
	for _, raw := range []string{"a=1", "a=1&b=2", "a=&b=x.y", "b=2&a=1", "a=1&a=2", "a", "a=1&", "a=b=c", "a=%20", "a=1;b=2", "=1", "a=+"} {
		want, _ := url.ParseQuery(raw)
		if canonicalRawQuery(raw) && want.Encode() != raw {
			t.Errorf("fast path for %q, but canonical form is %q", raw, want.Encode())
		}
	}
	if !canonicalRawQuery("a=1&b=2") || canonicalRawQuery("b=1&a=2") {
		t.Error("fast path decisions wrong")
	}
}
