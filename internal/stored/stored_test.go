package stored_test

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/aura-platform/redishttp/internal/recorder"
	"github.com/aura-platform/redishttp/internal/stored"
)

func sampleResponses() []stored.Response {
	return []stored.Response{
		{Status: 200, Header: http.Header{}, Body: []byte{}},
		{Status: 200, Header: http.Header{"Content-Type": {"text/plain"}}, Body: []byte("hello")},
		{Status: 404, Header: http.Header{
			"Vary":            {"Accept", "Accept-Encoding"},
			"X-Empty":         {""},
			"X-Novalue":       {},
			"Set-Cookie-Like": {"a=1; Path=/", "b=2"},
		}, Body: bytes.Repeat([]byte{0, 1, 2, 0xff}, 1000)},
		{Status: 999, Header: http.Header{"Weird\r\nName": {"v\x00al"}}, Body: []byte("\x00")},
		{Status: 100, Header: http.Header{}, Body: []byte{}},
	}
}

func TestStoredResponseRoundTrip(t *testing.T) {
	for i, s := range sampleResponses() {
		enc := s.Encode(nil)
		got, err := stored.Decode(enc)
		if err != nil {
			t.Fatalf("%d: decode: %v", i, err)
		}
		if got.Status != s.Status || !bytes.Equal(got.Body, s.Body) || !reflect.DeepEqual(normalise(got.Header), normalise(s.Header)) {
			t.Errorf("%d: round trip\n got %+v\nwant %+v", i, got, s)
		}
		// Deterministic: header map iteration order does not leak.
		for range 20 {
			if again := s.Encode(nil); !bytes.Equal(again, enc) {
				t.Fatalf("%d: encoding not deterministic", i)
			}
		}
		// Encode appends.
		prefixed := s.Encode([]byte("prefix"))
		if !bytes.Equal(prefixed, append([]byte("prefix"), enc...)) {
			t.Errorf("%d: Encode does not append to dst", i)
		}
	}
}

// normalise maps nil value slices to empty ones for comparison.
func normalise(h http.Header) http.Header {
	out := http.Header{}
	for k, vs := range h {
		out[k] = append([]string{}, vs...)
	}
	return out
}

func TestDecodeResponseCorrupt(t *testing.T) {
	s := stored.Response{Status: 200, Header: http.Header{"A": {"b", "c"}, "D": {"e"}}, Body: []byte("body")}
	enc := s.Encode(nil)
	// Every truncation is detected.
	for n := 0; n < len(enc); n++ {
		if _, err := stored.Decode(enc[:n]); !errors.Is(err, stored.ErrCorrupt) {
			t.Errorf("truncated to %d bytes: err = %v", n, err)
		}
	}
	// So is trailing garbage, a wrong version and out-of-range statuses.
	cases := map[string][]byte{
		"trailing byte":  append(append([]byte{}, enc...), 'x'),
		"version 0":      append([]byte{0}, enc[1:]...),
		"version 2":      append([]byte{2}, enc[1:]...),
		"status 0":       (&stored.Response{Status: 0}).Encode(nil),
		"status 1000":    (&stored.Response{Status: 1000}).Encode(nil),
		"status 99":      (&stored.Response{Status: 99}).Encode(nil),
		"huge count":     {1, 200, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
		"bad varint":     {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"huge value cnt": {1, 200, 1, 1, 'A', 0xff, 0xff, 0xff, 0x0f},
		"huge str len":   {1, 200, 1, 0xff, 0xff, 0x03, 'A'},
		"nil":            nil,
	}
	for name, b := range cases {
		if _, err := stored.Decode(b); !errors.Is(err, stored.ErrCorrupt) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

// FuzzDecodeResponse: hostile bytes never panic; whatever decodes
// re-encodes to something that decodes to the same response.
func FuzzDecodeResponse(f *testing.F) {
	for _, s := range sampleResponses() {
		f.Add(s.Encode(nil))
	}
	f.Add([]byte{})
	f.Add([]byte{1, 200, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := stored.Decode(b)
		if err != nil {
			if !errors.Is(err, stored.ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if s.Status < 100 || s.Status > 999 {
			t.Fatalf("decoded status %d", s.Status)
		}
		s2, err := stored.Decode(s.Encode(nil))
		if err != nil {
			t.Fatalf("re-encoded response does not decode: %v", err)
		}
		if s2.Status != s.Status || !bytes.Equal(s2.Body, s.Body) || !reflect.DeepEqual(normalise(s2.Header), normalise(s.Header)) {
			t.Fatalf("re-encode changed the response: %+v vs %+v", s, s2)
		}
	})
}

// FuzzStoredResponseRoundTrip builds responses from fuzzed parts and checks
// Encode/Decode is lossless.
func FuzzStoredResponseRoundTrip(f *testing.F) {
	f.Add(200, "Content-Type", "text/plain", "X", "", []byte("body"))
	f.Add(599, "", "\x00", "a\r\nb", "\xff", []byte{})
	f.Fuzz(func(t *testing.T, status int, k1, v1, k2, v2 string, body []byte) {
		if status < 100 || status > 999 {
			status = 100 + (status%900+900)%900
		}
		s := stored.Response{Status: status, Header: http.Header{k1: {v1, v2}, k2: {v2}}, Body: body}
		got, err := stored.Decode(s.Encode(nil))
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != s.Status || !bytes.Equal(got.Body, s.Body) || !reflect.DeepEqual(normalise(got.Header), normalise(s.Header)) {
			t.Fatalf("got %+v want %+v", got, s)
		}
	})
}

func TestStoredResponseWriteTo(t *testing.T) {
	s := stored.Response{
		Status: http.StatusOK,
		Header: http.Header{"Content-Type": {"text/plain"}, "Vary": {"Accept"}, "X-Ratelimit-Remaining": {"stale"}},
		Body:   []byte("cached body"),
	}
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		t.Run(method, func(t *testing.T) {
			w := httptest.NewRecorder()
			w.Header().Set("X-RateLimit-Limit", "10")    // set by an outer middleware: kept
			w.Header().Set("X-Ratelimit-Remaining", "9") // same name as stored: stored wins
			w.Header().Set("Content-Type", "text/html")  // replaced
			s.WriteTo(w, httptest.NewRequest(method, "/", nil))
			res := w.Result()
			if res.StatusCode != 200 {
				t.Errorf("status %d", res.StatusCode)
			}
			if res.Header.Get("X-Ratelimit-Limit") != "10" || res.Header.Get("Content-Type") != "text/plain" || res.Header.Get("Vary") != "Accept" {
				t.Errorf("headers %v", res.Header)
			}
			if got := res.Header.Values("X-Ratelimit-Remaining"); len(got) != 1 || got[0] != "stale" {
				t.Errorf("same-name header %v", got)
			}
			if res.Header.Get("Content-Length") != "11" {
				t.Errorf("Content-Length %q", res.Header.Get("Content-Length"))
			}
			wantBody := "cached body"
			if method == http.MethodHead {
				wantBody = ""
			}
			if w.Body.String() != wantBody {
				t.Errorf("body %q, want %q", w.Body.String(), wantBody)
			}
		})
	}
	t.Run("nil request writes body", func(t *testing.T) {
		w := httptest.NewRecorder()
		s.WriteTo(w, nil)
		if w.Body.String() != "cached body" {
			t.Errorf("body %q", w.Body.String())
		}
	})
	t.Run("no Content-Length on 204 and 304", func(t *testing.T) {
		for _, st := range []int{http.StatusNoContent, http.StatusNotModified} {
			w := httptest.NewRecorder()
			(&stored.Response{Status: st, Header: http.Header{}}).WriteTo(w, httptest.NewRequest("GET", "/", nil))
			if w.Code != st || w.Header().Get("Content-Length") != "" {
				t.Errorf("%d: code %d, Content-Length %q", st, w.Code, w.Header().Get("Content-Length"))
			}
		}
	})
	t.Run("HEAD over a real server keeps headers", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.WriteTo(w, r) }))
		defer srv.Close()
		resp, err := srv.Client().Head(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.ContentLength != 11 || resp.Header.Get("Vary") != "Accept" {
			t.Errorf("HEAD: length %d, headers %v", resp.ContentLength, resp.Header)
		}
	})
}

// TestRecorderToStoredResponse is the path cachehttp and lockhttp take:
// record a response, store it, replay it.
func TestRecorderToStoredResponse(t *testing.T) {
	w := httptest.NewRecorder()
	rec := recorder.New(w, 1<<20)
	rec.Header().Set("Content-Type", "application/json")
	rec.Header().Add("Vary", "Accept")
	rec.WriteHeader(http.StatusCreated)
	_, _ = rec.Write([]byte(`{"id":1}`))
	if !rec.Complete() {
		t.Fatal("not complete")
	}
	s := stored.Response{Status: rec.Status(), Header: rec.SentHeader(), Body: rec.Body()}
	dec, err := stored.Decode(s.Encode(nil))
	if err != nil {
		t.Fatal(err)
	}
	w2 := httptest.NewRecorder()
	dec.WriteTo(w2, httptest.NewRequest("POST", "/", nil))
	if w2.Code != 201 || w2.Body.String() != `{"id":1}` || w2.Header().Get("Content-Type") != "application/json" {
		t.Errorf("replayed %d %q %v", w2.Code, w2.Body.String(), w2.Header())
	}
}
