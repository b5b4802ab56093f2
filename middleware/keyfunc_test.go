package middleware_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aura-platform/redishttp/internal/keytext"
	"github.com/aura-platform/redishttp/middleware"
)

// unescapeKeyPart reverses KeyPart's escaping for parts that were not
// hashed. It fails on anything KeyPart could not have produced.
func unescapeKeyPart(t testing.TB, k string) (string, bool) {
	if strings.HasPrefix(k, "%h") {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(k) {
			t.Fatalf("truncated escape in %q", k)
		}
		hi, lo := unhex(t, k[i+1]), unhex(t, k[i+2])
		b.WriteByte(hi<<4 | lo)
		i += 2
	}
	return b.String(), true
}

func unhex(t testing.TB, c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10
	}
	t.Fatalf("bad escape digit %q", c)
	return 0
}

// checkKeyPartShape checks the invariants every KeyPart result has.
func checkKeyPartShape(t testing.TB, in, k string) {
	if len(k) > keytext.MaxPart && !(strings.HasPrefix(k, "%h") && len(k) == 42) {
		t.Fatalf("KeyPart(%q) = %q: %d bytes", in, k, len(k))
	}
	for i := 0; i < len(k); i++ {
		switch c := k[i]; c {
		case ':', '*', '?', '[', ']', '{', '}', '\\', ' ', '\r', '\n', '\t', 0:
			t.Fatalf("KeyPart(%q) = %q contains %q", in, k, c)
		default:
			if c < 0x20 || c >= 0x7f {
				t.Fatalf("KeyPart(%q) = %q contains byte %#x", in, k, c)
			}
		}
	}
	if s, ok := unescapeKeyPart(t, k); ok && s != in {
		t.Fatalf("KeyPart(%q) = %q decodes to %q", in, k, s)
	}
}

func TestKeyPart(t *testing.T) {
	long := strings.Repeat("x", keytext.MaxPart+1)
	tests := []struct {
		in, want string
	}{
		{"", ""},
		{"alice", "alice"},
		{"Az09-._~@/=,+", "Az09-._~@/=,+"},
		{"a:b", "a%3Ab"},
		{"*", "%2A"},
		{"user?[a-z]", "user%3F%5Ba-z%5D"},
		{"{tag}", "%7Btag%7D"},
		{"a\r\nSET x y", "a%0D%0ASET%20x%20y"},
		{"100%", "100%25"},
		{`back\slash`, "back%5Cslash"},
		{"é", "%C3%A9"},
		{"\x00\xff", "%00%FF"},
		{strings.Repeat("a", keytext.MaxPart), strings.Repeat("a", keytext.MaxPart)},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := middleware.KeyPart(tt.in)
			if got != tt.want {
				t.Errorf("KeyPart(%q) = %q, want %q", tt.in, got, tt.want)
			}
			checkKeyPartShape(t, tt.in, got)
		})
	}

	t.Run("long input is hashed", func(t *testing.T) {
		for _, in := range []string{long, strings.Repeat(":", 43), strings.Repeat("y", 1<<20)} {
			k := middleware.KeyPart(in)
			if !strings.HasPrefix(k, "%h") || len(k) != 42 {
				t.Errorf("KeyPart(%d bytes) = %q, want %%h + 40 hex digits", len(in), k)
			}
			checkKeyPartShape(t, in, k)
			if k2 := middleware.KeyPart(in); k2 != k {
				t.Errorf("not deterministic: %q vs %q", k, k2)
			}
		}
		// 42 escaped ':' are 126 bytes, kept; 43 are 129, hashed.
		if k := middleware.KeyPart(strings.Repeat(":", 42)); strings.HasPrefix(k, "%h") {
			t.Errorf("126-byte escape hashed: %q", k)
		}
		if middleware.KeyPart(long) == middleware.KeyPart(long+"x") {
			t.Error("two long inputs share a hash")
		}
	})
}

// FuzzKeyPart checks that KeyPart never panics, always yields a safe part,
// and is injective: two different inputs never give the same part.
func FuzzKeyPart(f *testing.F) {
	for _, s := range []string{"", "a", "a:b", "%3A", ":", "%h", "{x}", "\r\n", strings.Repeat("z", 200), strings.Repeat("%", 60)} {
		f.Add(s, s+"x")
		f.Add(s, strings.ToUpper(s))
	}
	f.Add("%25", "%")
	f.Add("a%3Ab", "a:b")
	f.Fuzz(func(t *testing.T, a, b string) {
		ka, kb := middleware.KeyPart(a), middleware.KeyPart(b)
		checkKeyPartShape(t, a, ka)
		checkKeyPartShape(t, b, kb)
		if (a == b) != (ka == kb) {
			t.Fatalf("KeyPart(%q) = %q, KeyPart(%q) = %q", a, ka, b, kb)
		}
	})
}

func req(method, target string, hdr ...string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	return r
}

func withUser(r *http.Request, id string) *http.Request {
	return r.WithContext(middleware.WithUser(r.Context(), id))
}

func TestKeyFuncs(t *testing.T) {
	ips, err := middleware.NewClientIP("10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	viaProxy := func(r *http.Request) *http.Request {
		r.RemoteAddr = "10.1.2.3:4444"
		r.Header.Set("X-Forwarded-For", "203.0.113.9")
		return r
	}
	tests := []struct {
		name    string
		fn      middleware.KeyFunc
		r       *http.Request
		want    string
		wantErr error
	}{
		{"ByUser", middleware.ByUser(), withUser(req("GET", "/"), "alice"), "u:alice", nil},
		{"ByUser escapes", middleware.ByUser(), withUser(req("GET", "/"), "a:b*{c}"), "u:a%3Ab%2A%7Bc%7D", nil},
		{"ByUser anonymous", middleware.ByUser(), req("GET", "/"), "", middleware.ErrNoUser},
		{"ByUser empty id", middleware.ByUser(), withUser(req("GET", "/"), ""), "", middleware.ErrNoUser},
		{"ByClientIP peer", middleware.ByClientIP(nil), req("GET", "/"), "ip:192.0.2.1", nil},
		{"ByClientIP nil ignores XFF", middleware.ByClientIP(nil), viaProxy(req("GET", "/")), "ip:10.1.2.3", nil},
		{"ByClientIP trusted proxy", middleware.ByClientIP(ips), viaProxy(req("GET", "/")), "ip:203.0.113.9", nil},
		{"ByClientIP v6 /64", middleware.ByClientIP(nil), func() *http.Request {
			r := req("GET", "/")
			r.RemoteAddr = "[2001:db8:1:2:3:4:5:6]:443"
			return r
		}(), "ip:" + middleware.KeyPart("2001:db8:1:2::/64"), nil},
		{"ByClientIP unknown", middleware.ByClientIP(nil), func() *http.Request {
			r := req("GET", "/")
			r.RemoteAddr = "pipe"
			return r
		}(), "ip:unknown", nil},
		{"UserOr user", middleware.UserOr(middleware.ByClientIP(nil)), withUser(req("GET", "/"), "bob"), "u:bob", nil},
		{"UserOr fallback", middleware.UserOr(middleware.ByClientIP(nil)), req("GET", "/"), "ip:192.0.2.1", nil},
		{"UserOr fallback error", middleware.UserOr(middleware.ByHeader("X-Api-Key")), req("GET", "/"), "", middleware.ErrNoKey},
		{"ByHeader", middleware.ByHeader("x-api-key"), req("GET", "/", "X-Api-Key", "k1"), "h:k1", nil},
		{"ByHeader repeated", middleware.ByHeader("X-Api-Key"), req("GET", "/", "X-Api-Key", "k1", "X-Api-Key", "k2"), "h:k1,k2", nil},
		{"ByHeader CRLF and glob", middleware.ByHeader("X-Api-Key"), req("GET", "/", "X-Api-Key", "a*\r\nb"), "h:a%2A%0D%0Ab", nil},
		{"ByHeader missing", middleware.ByHeader("X-Api-Key"), req("GET", "/"), "", middleware.ErrNoKey},
		{"ByHeader empty value", middleware.ByHeader("X-Api-Key"), req("GET", "/", "X-Api-Key", ""), "h:", nil},
		{"ByRoute pattern", middleware.ByRoute(), func() *http.Request {
			r := req("GET", "/items/7")
			r.Pattern = "GET /items/{id}"
			return r
		}(), "r:GET%20/items/%7Bid%7D", nil},
		{"ByRoute no pattern", middleware.ByRoute(), req("POST", "/items/7?x=1"), "r:POST%20/items/7", nil},
		{"ByQuery all sorted", middleware.ByQuery(), req("GET", "/?b=2&a=1&b=1"), "q:a=1%26b=2%26b=1", nil},
		{"ByQuery named", middleware.ByQuery("z", "a"), req("GET", "/?a=1&m=x&z=9"), "q:a=1%26z=9", nil},
		{"ByQuery named missing", middleware.ByQuery("a"), req("GET", "/?b=1"), "q:", nil},
		{"ByQuery named empty value", middleware.ByQuery("a"), req("GET", "/?a="), "q:a=", nil},
		{"ByQuery escapes", middleware.ByQuery(), req("GET", "/?k=a%3Ab%2A"), "q:k=a%253Ab%252A", nil},
		{"Static", middleware.Static("global"), req("GET", "/"), "s:global", nil},
		{"Static escapes", middleware.Static("a:{b}"), req("GET", "/"), "s:a%3A%7Bb%7D", nil},
		{"Join", middleware.Join(middleware.Static("api"), middleware.ByUser(), middleware.ByQuery("v")),
			withUser(req("GET", "/?v=2"), "alice"), "s:api:u:alice:q:v=2", nil},
		{"Join empty", middleware.Join(), req("GET", "/"), "", nil},
		{"Join error", middleware.Join(middleware.Static("api"), middleware.ByUser()), req("GET", "/"), "", middleware.ErrNoUser},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.fn(tt.r)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("key = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestByQueryOrderNormalised(t *testing.T) {
	a, _ := middleware.ByQuery()(req("GET", "/?b=2&a=1&c=3"))
	b, _ := middleware.ByQuery()(req("GET", "/?c=3&a=1&b=2"))
	if a != b {
		t.Errorf("parameter order changes the key: %q vs %q", a, b)
	}
	// Values of one parameter keep their order: ?t=1&t=2 is a different
	// request from ?t=2&t=1 for most handlers.
	c, _ := middleware.ByQuery()(req("GET", "/?t=1&t=2"))
	d, _ := middleware.ByQuery()(req("GET", "/?t=2&t=1"))
	if c == d {
		t.Errorf("value order ignored: both %q", c)
	}
	// Named parameters: the order of the names does not matter either.
	e, _ := middleware.ByQuery("a", "b")(req("GET", "/?b=2&a=1"))
	f, _ := middleware.ByQuery("b", "a")(req("GET", "/?a=1&b=2"))
	if e != f {
		t.Errorf("name order changes the key: %q vs %q", e, f)
	}
}

func TestByQueryNamesNotAliased(t *testing.T) {
	names := []string{"b", "a"}
	fn := middleware.ByQuery(names...)
	names[0] = "zzz"
	if k, _ := fn(req("GET", "/?a=1&b=2")); k != "q:a=1%26b=2" {
		t.Errorf("key = %q after the caller changed its slice", k)
	}
	if names[1] != "a" {
		t.Error("ByQuery sorted the caller's slice")
	}
}

func TestByRouteThroughServeMux(t *testing.T) {
	mux := http.NewServeMux()
	var got []string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, _ := middleware.ByRoute()(r)
		got = append(got, k)
	})
	mux.Handle("GET /users/{id}/posts/{post}", h)
	mux.Handle("/static/", h)
	for _, p := range []string{"/users/1/posts/2", "/users/3/posts/4", "/static/a.css"} {
		mux.ServeHTTP(httptest.NewRecorder(), req("GET", p))
	}
	want := []string{
		"r:" + middleware.KeyPart("GET /users/{id}/posts/{post}"),
		"r:" + middleware.KeyPart("GET /users/{id}/posts/{post}"),
		"r:/static/",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("keys = %q, want %q", got, want)
	}
}

// TestJoinUnambiguous: different part values can never join to the same key,
// even when they contain the separator.
func TestJoinUnambiguous(t *testing.T) {
	fn := middleware.Join(middleware.ByHeader("A"), middleware.ByHeader("B"))
	k1, _ := fn(req("GET", "/", "A", "x:h:y", "B", "z"))
	k2, _ := fn(req("GET", "/", "A", "x", "B", "y:h:z"))
	if k1 == k2 {
		t.Errorf("both keyed %q", k1)
	}
	if strings.Count(k1, ":") != 3 || strings.Count(k2, ":") != 3 {
		t.Errorf("separator smuggled: %q, %q", k1, k2)
	}
}
