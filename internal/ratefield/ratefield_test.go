package ratefield

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	good := map[string][]Item{
		`"api";r=5;t=30`:                    {{Name: "api", Params: []Param{{Key: "r", Int: 5, IsInt: true, Text: "5"}, {Key: "t", Int: 30, IsInt: true, Text: "30"}}}},
		`"a";q=10;w=1, b;q=2;qu="requests"`: {{Name: "a", Params: []Param{{Key: "q", Int: 10, IsInt: true, Text: "10"}, {Key: "w", Int: 1, IsInt: true, Text: "1"}}}, {Name: "b", Params: []Param{{Key: "q", Int: 2, IsInt: true, Text: "2"}, {Key: "qu", Text: "requests"}}}},
		`"x\"y";pk=?1;flag`:                 {{Name: `x"y`, Params: []Param{{Key: "pk", Text: "?1"}, {Key: "flag", Text: "?1"}}}},
		``:                                  nil,
	}
	for in, want := range good {
		got, err := Parse(in)
		if err != nil || len(got) != len(want) {
			t.Fatalf("Parse(%q) = %+v, %v", in, got, err)
		}
		for i := range want {
			if got[i].Name != want[i].Name || len(got[i].Params) != len(want[i].Params) {
				t.Fatalf("Parse(%q)[%d] = %+v, want %+v", in, i, got[i], want[i])
			}
			for j := range want[i].Params {
				if got[i].Params[j] != want[i].Params[j] {
					t.Fatalf("Parse(%q)[%d] param %d = %+v, want %+v", in, i, j, got[i].Params[j], want[i].Params[j])
				}
			}
		}
	}
	for _, bad := range []string{`"open`, `"a",`, `"a";R=1`, `"a";r=1.5`, `"a";r=1234567890123456`, `1abc`, `"a" "b"`, `("a")`, "\"a\x01\"", `"a";r=`} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestAppend(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{string(AppendPolicy(nil, "api", 1000, time.Hour)), `"api";q=1000;w=3600`},
		{string(AppendPolicy(nil, "fast", 5, 300*time.Millisecond)), `"fast";q=5;w=1`},
		{string(AppendRateLimit(nil, "api", 999, 3599500*time.Millisecond)), `"api";r=999;t=3600`},
		{string(AppendRateLimit(nil, `a"b`, -3, -time.Second)), `"a\"b";r=0;t=0`},
	} {
		if c.got != c.want {
			t.Errorf("got %s, want %s", c.got, c.want)
		}
	}
}

// Parse reads the structured fields back, as a client would.
func ExampleParse() {
	items, _ := Parse(`"api";r=998;t=3540`)
	r, _ := items[0].Int("r")
	t, _ := items[0].Int("t")
	fmt.Println(items[0].Name, r, t)
	// Output: api 998 3540
}

// FuzzFields: whatever the policy numbers, the writer's fields parse back
// to the same values; and the parser never panics on any input, and what
// it accepts it accepts again after canonical re-formatting.
func FuzzFields(f *testing.F) {
	f.Add("api", int64(100), int64(3600_000), int64(42), int64(1500), `"api";r=5;t=30`)
	f.Add("burst.1", int64(1), int64(1), int64(0), int64(0), `a, b;q=1;w="x";pk=?0`)
	f.Add("x", int64(-5), int64(-1), int64(-9), int64(-1), "\"\\\"")
	f.Fuzz(func(t *testing.T, name string, limit, windowMS, remaining, resetMS int64, raw string) {
		if items, err := Parse(raw); err == nil {
			var b []byte
			for i, it := range items {
				if i > 0 {
					b = append(b, ", "...)
				}
				b = AppendString(b, it.Name)
				for _, p := range it.Params {
					b = append(b, ';')
					b = append(b, p.Key...)
					if p.IsInt {
						b = append(b, '=')
						b = strconv.AppendInt(b, p.Int, 10)
					} else if p.Text != "?1" {
						b = append(b, '=')
						b = AppendString(b, p.Text)
					}
				}
			}
			again, err := Parse(string(b))
			if err != nil || len(again) != len(items) {
				t.Fatalf("re-formatted %q of %q does not parse: %v", b, raw, err)
			}
		}
		if !printable(name) || limit < 0 || limit > MaxInt || remaining < 0 || remaining > MaxInt ||
			windowMS < 0 || windowMS > MaxInt || resetMS < 0 || resetMS > MaxInt {
			return
		}
		window := time.Duration(windowMS) * time.Millisecond
		reset := time.Duration(resetMS) * time.Millisecond
		pol, err := Parse(string(AppendPolicy(nil, name, limit, window)))
		if err != nil || len(pol) != 1 || pol[0].Name != name {
			t.Fatalf("policy field for %q: %+v %v", name, pol, err)
		}
		if q, _ := pol[0].Int("q"); q != limit {
			t.Fatalf("q=%d, want %d", q, limit)
		}
		if w, _ := pol[0].Int("w"); w != max(Seconds(window), 1) || time.Duration(w)*time.Second < window {
			t.Fatalf("w=%d for %v", w, window)
		}
		rl, err := Parse(string(AppendRateLimit(nil, name, remaining, reset)))
		if err != nil || len(rl) != 1 || rl[0].Name != name {
			t.Fatalf("ratelimit field for %q: %+v %v", name, rl, err)
		}
		if r, _ := rl[0].Int("r"); r != remaining {
			t.Fatalf("r=%d, want %d", r, remaining)
		}
		if tv, _ := rl[0].Int("t"); tv != Seconds(reset) || time.Duration(tv)*time.Second < reset {
			t.Fatalf("t=%d for %v", tv, reset)
		}
	})
}

// printable reports whether s survives an sf-string unchanged.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
