package ratelimithttp

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

func TestParseField(t *testing.T) {
	good := map[string][]FieldItem{
		`"api";r=5;t=30`:                    {{Name: "api", Params: []FieldParam{{Key: "r", Int: 5, IsInt: true, Text: "5"}, {Key: "t", Int: 30, IsInt: true, Text: "30"}}}},
		`"a";q=10;w=1, b;q=2;qu="requests"`: {{Name: "a", Params: []FieldParam{{Key: "q", Int: 10, IsInt: true, Text: "10"}, {Key: "w", Int: 1, IsInt: true, Text: "1"}}}, {Name: "b", Params: []FieldParam{{Key: "q", Int: 2, IsInt: true, Text: "2"}, {Key: "qu", Text: "requests"}}}},
		`"x\"y";pk=?1;flag`:                 {{Name: `x"y`, Params: []FieldParam{{Key: "pk", Text: "?1"}, {Key: "flag", Text: "?1"}}}},
		``:                                  nil,
	}
	for in, want := range good {
		got, err := ParseField(in)
		if err != nil || len(got) != len(want) {
			t.Fatalf("ParseField(%q) = %+v, %v", in, got, err)
		}
		for i := range want {
			if got[i].Name != want[i].Name || len(got[i].Params) != len(want[i].Params) {
				t.Fatalf("ParseField(%q)[%d] = %+v, want %+v", in, i, got[i], want[i])
			}
			for j := range want[i].Params {
				if got[i].Params[j] != want[i].Params[j] {
					t.Fatalf("ParseField(%q)[%d] param %d = %+v, want %+v", in, i, j, got[i].Params[j], want[i].Params[j])
				}
			}
		}
	}
	for _, bad := range []string{`"open`, `"a",`, `"a";R=1`, `"a";r=1.5`, `"a";r=1234567890123456`, `1abc`, `"a" "b"`, `("a")`, "\"a\x01\"", `"a";r=`} {
		if _, err := ParseField(bad); err == nil {
			t.Errorf("ParseField(%q) accepted", bad)
		}
	}
}

// FuzzFields: whatever the policy numbers, the writer's fields parse back
// to the same values; and the parser never panics on any input, and what
// it accepts it accepts again after canonical re-formatting.
func FuzzFields(f *testing.F) {
	f.Add("api", int64(100), int64(3600_000), int64(42), int64(1500), `"api";r=5;t=30`)
	f.Add("burst.1", int64(1), int64(1), int64(0), int64(0), `a, b;q=1;w="x";pk=?0`)
	f.Add("x", int64(-5), int64(-1), int64(-9), int64(-1), "\"\\\"")
	f.Fuzz(func(t *testing.T, name string, limit, windowMS, remaining, resetMS int64, raw string) {
		if items, err := ParseField(raw); err == nil {
			var b []byte
			for i, it := range items {
				if i > 0 {
					b = append(b, ", "...)
				}
				b = appendSFString(b, it.Name)
				for _, p := range it.Params {
					b = append(b, ';')
					b = append(b, p.Key...)
					if p.IsInt {
						b = append(b, '=')
						b = strconv.AppendInt(b, p.Int, 10)
					} else if p.Text != "?1" {
						b = append(b, '=')
						b = appendSFString(b, p.Text)
					}
				}
			}
			again, err := ParseField(string(b))
			if err != nil || len(again) != len(items) {
				t.Fatalf("re-formatted %q of %q does not parse: %v", b, raw, err)
			}
		}
		p := Policy{Name: name, Rate: rate(limit, time.Duration(windowMS)*time.Millisecond)}
		if p.validate() != nil || limit > maxSFInt || remaining > maxSFInt || remaining < 0 || resetMS < 0 || resetMS > maxSFInt || windowMS > maxSFInt {
			return
		}
		s := State{Policy: name, Limit: limit, Remaining: remaining, Window: p.Rate.Period,
			ResetAfter: time.Duration(resetMS) * time.Millisecond, Reset: time.UnixMilli(1_700_000_000_000 + resetMS)}
		h := http.Header{}
		writeHeaders(h, &s)
		pol, err := ParseField(h.Get(HeaderPolicy))
		if err != nil || len(pol) != 1 || pol[0].Name != name {
			t.Fatalf("policy field %q: %+v %v", h.Get(HeaderPolicy), pol, err)
		}
		if q, _ := pol[0].Int("q"); q != limit {
			t.Fatalf("q=%d, want %d", q, limit)
		}
		if w, _ := pol[0].Int("w"); w != max(seconds(s.Window), 1) {
			t.Fatalf("w=%d for %v", w, s.Window)
		}
		rl, err := ParseField(h.Get(HeaderRateLimit))
		if err != nil || len(rl) != 1 || rl[0].Name != name {
			t.Fatalf("ratelimit field %q: %v", h.Get(HeaderRateLimit), err)
		}
		if r, _ := rl[0].Int("r"); r != remaining {
			t.Fatalf("r=%d, want %d", r, remaining)
		}
		if tv, _ := rl[0].Int("t"); tv != seconds(s.ResetAfter) || time.Duration(tv)*time.Second < s.ResetAfter {
			t.Fatalf("t=%d for %v", tv, s.ResetAfter)
		}
		if got, _ := strconv.ParseInt(h.Get(HeaderReset), 10, 64); time.Unix(got, 0).Before(s.Reset) {
			t.Fatalf("X-RateLimit-Reset %d before the reset %v", got, s.Reset)
		}
		if h.Get(HeaderLimit) != strconv.FormatInt(limit, 10) || h.Get(HeaderRemaining) != strconv.FormatInt(remaining, 10) {
			t.Fatalf("legacy headers %v", h)
		}
		// The chain comparison reads the same header back.
		w := httptest.NewRecorder()
		writeHeaders(w.Header(), &s)
		if !outerTighter(w.Header(), &s) {
			t.Fatal("a policy is not at least as tight as itself")
		}
	})
}
