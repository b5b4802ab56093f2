package lockhttp_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/aura-platform/redishttp/lockhttp"
)

// FuzzFingerprint: the fingerprint is a function of its four fields and
// never confuses where one field ends and the next begins.
func FuzzFingerprint(f *testing.F) {
	f.Add("POST", "/api/auras", "a=1", []byte(`{"name":"blue"}`), uint8(3))
	f.Add("", "", "", []byte{}, uint8(0))
	f.Add("PUT", "/x", "", []byte("\x00\xff"), uint8(1))
	f.Fuzz(func(t *testing.T, method, path, query string, body []byte, shift uint8) {
		fp := lockhttp.Fingerprint(method, path, query, body)
		if fp != lockhttp.Fingerprint(method, path, query, bytes.Clone(body)) {
			t.Fatal("not deterministic")
		}
		// Moving bytes across a field boundary changes the fingerprint.
		if n := int(shift) % (len(path) + 1); n > 0 {
			moved := lockhttp.Fingerprint(method+path[:n], path[n:], query, body)
			if moved == fp {
				t.Fatalf("moving %q from path to method kept the fingerprint", path[:n])
			}
		}
		if n := int(shift) % (len(query) + 1); n > 0 {
			moved := lockhttp.Fingerprint(method, path, query[n:], append([]byte(query[:n]), body...))
			if moved == fp && query[n:] != query {
				t.Fatalf("moving query bytes into the body kept the fingerprint")
			}
		}
		if len(body) > 0 {
			b := bytes.Clone(body)
			b[int(shift)%len(b)] ^= 1
			if lockhttp.Fingerprint(method, path, query, b) == fp {
				t.Fatal("a body change kept the fingerprint")
			}
		}
	})
}

// FuzzParseIdempotencyKey: never panics; accepted keys are 1-255 printable
// ASCII characters; a quoted key round-trips through escaping.
func FuzzParseIdempotencyKey(f *testing.F) {
	for _, s := range []string{`"abc"`, `abc`, `""`, `"a\"b"`, `"a\\b"`, `"abc`, `"a"b`, "\x00", strings.Repeat("k", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		k, err := lockhttp.ParseIdempotencyKey([]string{v})
		if err != nil {
			return
		}
		if k == "" || len(k) > lockhttp.MaxIdempotencyKeyLen {
			t.Fatalf("accepted key of length %d", len(k))
		}
		for i := 0; i < len(k); i++ {
			if k[i] < 0x20 || k[i] > 0x7e {
				t.Fatalf("accepted non-printable byte %#x", k[i])
			}
		}
		quoted := `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(k) + `"`
		if k2, err := lockhttp.ParseIdempotencyKey([]string{quoted}); err != nil || k2 != k {
			t.Fatalf("quoted %q parsed as %q, %v", quoted, k2, err)
		}
	})
}

func TestParseIdempotencyKey(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
		bad  bool
	}{
		{nil, "", false},
		{[]string{`"8e03978e-40d5"`}, "8e03978e-40d5", false},
		{[]string{`8e03978e`}, "8e03978e", false},
		{[]string{` "a\"b" `}, `a"b`, false},
		{[]string{`""`}, "", true},
		{[]string{`"abc`}, "", true},
		{[]string{`"a"b`}, "", true},
		{[]string{`"a\x"`}, "", true},
		{[]string{"a\x01"}, "", true},
		{[]string{"a", "b"}, "", true},
		{[]string{strings.Repeat("k", 256)}, "", true},
	} {
		got, err := lockhttp.ParseIdempotencyKey(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("%q: %q, %v", tc.in, got, err)
		}
	}
}
