package lockhttp_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aura-platform/redishttp/lockhttp"
	"github.com/aura-platform/redishttp/middleware"
)

// handlerName is what a handler decoding into a struct with a `json:"name"`
// field sees.
func handlerName(body string) (string, bool) {
	var in struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal([]byte(body), &in); err != nil || in.Name == "" {
		return "", false
	}
	return in.Name, true
}

// nameVariants are bodies whose name a handler decodes differently from
// their bytes: case-insensitive field names, duplicates (the last wins),
// escaped field names.
var nameVariants = []struct{ body, want string }{
	{`{"name":"dup"}`, "dup"},
	{`{"NAME":"dup"}`, "dup"},
	{`{"Name":"dup"}`, "dup"},
	{`{"name":"x","name":"dup"}`, "dup"},
	{`{"name":"a","NAME":"b"}`, "b"},
	{`{"NAME":"b","name":"a"}`, "a"},
	{`{"n\u0061me":"dup"}`, "dup"},
	{`{"other":1,"nAmE":"dup","x":{"name":"inner"}}`, "dup"},
}

// JSONField locks the name the handler decodes, whatever the case of the
// field or how often it repeats.
func TestJSONFieldNameVariants(t *testing.T) {
	key := lockhttp.JSONField("name", 0)
	for _, tc := range nameVariants {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body))
		k, err := key(r)
		if err != nil {
			t.Errorf("%s: %v", tc.body, err)
			continue
		}
		name, _ := handlerName(tc.body)
		if name != tc.want {
			t.Fatalf("%s: the handler decodes %q, the table says %q", tc.body, name, tc.want)
		}
		if want := "j:" + middleware.KeyPart(name); k != want {
			t.Errorf("%s: key %q, the handler writes %q", tc.body, k, want)
		}
		if b, _ := io.ReadAll(r.Body); string(b) != tc.body {
			t.Errorf("%s: the handler reads %q", tc.body, b)
		}
	}
	for _, body := range []string{``, `[]`, `"name"`, `{"name":""}`, `{"name":null}`, `{"name":{}}`, `{"name":[1]}`, `{"other":"x"}`, `{"name":"a"`, `{"name":"a"} x`} {
		if k, err := key(httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))); !errors.Is(err, middleware.ErrNoKey) {
			t.Errorf("%q: key %q, err %v; want ErrNoKey", body, k, err)
		}
	}
	for body, want := range map[string]string{`{"name":12.50}`: "j:12.50", `{"name":true}`: "j:true"} {
		if k, err := key(httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))); k != want || err != nil {
			t.Errorf("%s: %q %v, want %q", body, k, err, want)
		}
	}
	if _, err := lockhttp.JSONField(`a,b`, 0)(httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"a,b":"x"}`))); !errors.Is(err, middleware.ErrNoKey) {
		t.Errorf("a field name that cannot be a tag: %v", err)
	}
}

// FuzzJSONFieldMatchesHandler: JSONField keys every body by exactly the
// name a handler decoding into a struct sees, or refuses to key it.
func FuzzJSONFieldMatchesHandler(f *testing.F) {
	for _, tc := range nameVariants {
		f.Add(tc.body)
	}
	f.Add(`{"name":"\u212a"}`)
	f.Add(`{"nam\u212a":"k"}`) // Kelvin sign folds to k
	f.Fuzz(func(t *testing.T, body string) {
		k, err := lockhttp.JSONField("name", 0)(httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body)))
		name, ok := handlerName(body)
		if err != nil {
			return // not keyed: the Locker answers 400 and nothing is written
		}
		if ok && k != "j:"+middleware.KeyPart(name) {
			t.Fatalf("%q: key %q, handler name %q", body, k, name)
		}
	})
}

// The normalising key function of the JSONKey example.
func trimmedName(in struct {
	Name string `json:"name"`
}) (string, error) {
	return strings.ToLower(strings.TrimSpace(in.Name)), nil
}

func TestJSONKeyNormalises(t *testing.T) {
	key := lockhttp.JSONKey(0, trimmedName)
	for _, body := range []string{`{"name":"dup"}`, `{"name":"dup "}`, `{"name":" dup"}`, `{"NAME":" Dup "}`, `{"name":"x","name":"DUP"}`} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		if k, err := key(r); k != "j:dup" || err != nil {
			t.Errorf("%s: %q %v", body, k, err)
		}
		if b, _ := io.ReadAll(r.Body); string(b) != body {
			t.Errorf("%s: the handler reads %q", body, b)
		}
	}
	for _, body := range []string{`{"name":"  "}`, `{}`, `not json`, `{"name":5}`} {
		if _, err := key(httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))); !errors.Is(err, middleware.ErrNoKey) {
			t.Errorf("%s: %v, want ErrNoKey", body, err)
		}
	}
	// The key function's own error is kept (ErrNoUser answers 401).
	byUser := lockhttp.JSONKey(0, func(struct{}) (string, error) { return "", middleware.ErrNoUser })
	if _, err := byUser(httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{}`))); !errors.Is(err, middleware.ErrNoUser) || !errors.Is(err, middleware.ErrNoKey) {
		t.Errorf("key error: %v", err)
	}
}

// trackedBody is a request body that records whether it was closed.
type trackedBody struct {
	io.Reader
	closed atomic.Bool
}

func (b *trackedBody) Close() error { b.closed.Store(true); return nil }

// Over the limit, the key functions fail with ErrBodyTooLarge and the
// handler still reads the whole body from the original, unclosed reader.
func TestKeyOverLimitKeepsBody(t *testing.T) {
	body := `{"name":"big","pad":"` + strings.Repeat("x", 4988) + `"}`
	if len(body) != 5011 {
		t.Fatalf("len %d", len(body))
	}
	for name, key := range map[string]middleware.KeyFunc{
		"JSONField": lockhttp.JSONField("name", 4096),
		"JSONKey":   lockhttp.JSONKey(4096, trimmedName),
	} {
		t.Run(name, func(t *testing.T) {
			tb := &trackedBody{Reader: strings.NewReader(body)}
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			r.Body = tb
			if _, err := key(r); !errors.Is(err, lockhttp.ErrBodyTooLarge) {
				t.Fatalf("err %v, want ErrBodyTooLarge", err)
			}
			if tb.closed.Load() {
				t.Fatal("the original body was closed")
			}
			b, err := io.ReadAll(r.Body)
			if err != nil || string(b) != body {
				t.Fatalf("the handler reads %d of %d bytes (%v)", len(b), len(body), err)
			}
			_ = r.Body.Close()
			if !tb.closed.Load() {
				t.Fatal("closing the replay did not close the original")
			}
			// Within the limit the body is replayed whole too.
			small := body[:4000] + `"}`
			r = httptest.NewRequest(http.MethodPost, "/", strings.NewReader(small))
			if k, err := key(r); k != "j:big" || err != nil {
				t.Fatalf("within limit: %q %v", k, err)
			}
			if b, _ := io.ReadAll(r.Body); string(b) != small {
				t.Fatalf("within limit: the handler reads %d bytes", len(b))
			}
		})
	}
	// A server-side limit (http.MaxBytesReader) is a body too large as well.
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 100)
	if _, err := lockhttp.JSONField("name", 0)(r); !errors.Is(err, lockhttp.ErrBodyTooLarge) {
		t.Fatalf("MaxBytesReader: %v", err)
	}
}

// A Locker answers 413 to a body over the key function's limit without
// running the handler, and a caller that bypasses on key errors (as a
// cache does) hands the handler the whole body.
func TestLockerOverLimitBody(t *testing.T) {
	forEachDeployment(t, func(t *testing.T, d deployment) {
		var runs atomic.Int64
		l := d.newLocker(t, lockhttp.Options{Key: middleware.Join(middleware.ByUser(), lockhttp.JSONKey(1024, trimmedName))})
		h := serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { runs.Add(1) }))
		big := `{"name":"big","pad":"` + strings.Repeat("x", 3<<20) + `"}`
		for _, idem := range []string{"", "k-big"} {
			if err := isProblem(do(t.Context(), h, "u", idem, big), http.StatusRequestEntityTooLarge); err != nil {
				t.Errorf("Idempotency-Key %q: %v", idem, err)
			}
		}
		if runs.Load() != 0 {
			t.Fatalf("the handler ran %d times", runs.Load())
		}
		if r := do(t.Context(), h, "u", "", `{"name":"small"}`); r.status != http.StatusOK {
			t.Fatalf("small body: %d %s", r.status, r.body)
		}
	})
	// Bypassing on the key error: the handler reads every byte.
	key := lockhttp.JSONField("name", 4096)
	var got int
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := key(r); err == nil {
			t.Error("keyed an over-limit body")
		}
		b, _ := io.ReadAll(r.Body)
		got = len(b)
	})
	body := bytes.Repeat([]byte("a"), 5011)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body)))
	if got != len(body) {
		t.Fatalf("handler read %d of %d bytes", got, len(body))
	}
}
