package idempotency_test

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aura-platform/redishttp/internal/idempotency"
	"github.com/aura-platform/redishttp/internal/stored"
)

// FuzzSum: the fingerprint is a function of its four fields and
// never confuses where one field ends and the next begins.
func FuzzSum(f *testing.F) {
	f.Add("POST", "/api/orders", "a=1", []byte(`{"name":"blue"}`), uint8(3))
	f.Add("", "", "", []byte{}, uint8(0))
	f.Add("PUT", "/x", "", []byte("\x00\xff"), uint8(1))
	f.Fuzz(func(t *testing.T, method, path, query string, body []byte, shift uint8) {
		fp := idempotency.Sum(method, path, query, body)
		if fp != idempotency.Sum(method, path, query, bytes.Clone(body)) {
			t.Fatal("not deterministic")
		}
		// Moving bytes across a field boundary changes the fingerprint.
		if n := int(shift) % (len(path) + 1); n > 0 {
			moved := idempotency.Sum(method+path[:n], path[n:], query, body)
			if moved == fp {
				t.Fatalf("moving %q from path to method kept the fingerprint", path[:n])
			}
		}
		if n := int(shift) % (len(query) + 1); n > 0 {
			moved := idempotency.Sum(method, path, query[n:], append([]byte(query[:n]), body...))
			if moved == fp && query[n:] != query {
				t.Fatalf("moving query bytes into the body kept the fingerprint")
			}
		}
		if len(body) > 0 {
			b := bytes.Clone(body)
			b[int(shift)%len(b)] ^= 1
			if idempotency.Sum(method, path, query, b) == fp {
				t.Fatal("a body change kept the fingerprint")
			}
		}
	})
}

// FuzzParseKey: never panics; accepted keys are 1-255 printable
// ASCII characters; a quoted key round-trips through escaping.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{`"abc"`, `abc`, `""`, `"a\"b"`, `"a\\b"`, `"abc`, `"a"b`, "\x00", strings.Repeat("k", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		k, err := idempotency.ParseKey([]string{v})
		if err != nil {
			return
		}
		if k == "" || len(k) > idempotency.MaxKeyLen {
			t.Fatalf("accepted key of length %d", len(k))
		}
		for i := 0; i < len(k); i++ {
			if k[i] < 0x20 || k[i] > 0x7e {
				t.Fatalf("accepted non-printable byte %#x", k[i])
			}
		}
		quoted := `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(k) + `"`
		if k2, err := idempotency.ParseKey([]string{quoted}); err != nil || k2 != k {
			t.Fatalf("quoted %q parsed as %q, %v", quoted, k2, err)
		}
	})
}

func TestParseKey(t *testing.T) {
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
		got, err := idempotency.ParseKey(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("%q: %q, %v", tc.in, got, err)
		}
	}
}

func TestRecords(t *testing.T) {
	fp := idempotency.Sum("POST", "/x", "", []byte("{}"))
	run := idempotency.Running(fp)
	if bytes.Equal(run, idempotency.Running(fp)) {
		t.Fatal("two claims of one request compare equal")
	}
	if !idempotency.IsRunning(run) {
		t.Fatal("running record not tagged running")
	}
	rec, err := idempotency.Decode(run)
	if err != nil || rec.Completed || rec.FP != fp {
		t.Fatalf("running: %+v, %v", rec, err)
	}
	resp := stored.Response{Status: 201, Header: http.Header{"X-A": {"b"}}, Body: []byte("made")}
	done := idempotency.Completed(fp, &resp)
	if idempotency.IsRunning(done) {
		t.Fatal("completed record tagged running")
	}
	rec, err = idempotency.Decode(done)
	if err != nil || !rec.Completed || rec.FP != fp || rec.Resp.Status != 201 || string(rec.Resp.Body) != "made" || rec.Resp.Header.Get("X-A") != "b" {
		t.Fatalf("completed: %+v, %v", rec, err)
	}
	for _, b := range [][]byte{nil, []byte("R"), run[:len(run)-1], append([]byte{'X'}, run[1:]...)} {
		if _, err := idempotency.Decode(b); !errors.Is(err, idempotency.ErrCorrupt) {
			t.Errorf("Decode(%q) = %v, want ErrCorrupt", b, err)
		}
	}
}
