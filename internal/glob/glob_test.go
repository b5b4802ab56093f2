package glob

import (
	"strings"
	"testing"
)

// reference is a plain recursive matcher over (pattern index, string index),
// memoised so that it stays polynomial: the specification Match must agree
// with.
func reference(p, s string) bool {
	memo := make(map[[2]int]bool)
	var rec func(i, j int) bool
	rec = func(i, j int) bool {
		k := [2]int{i, j}
		if v, ok := memo[k]; ok {
			return v
		}
		var r bool
		switch {
		case i == len(p):
			r = j == len(s)
		case p[i] == '*':
			r = rec(i+1, j) || j < len(s) && rec(i, j+1)
		case j == len(s):
			r = false
		case p[i] == '?':
			r = rec(i+1, j+1)
		case p[i] == '[':
			end := ClassEnd(p, i)
			r = end >= 0 && classMatch(p[i+1:end], s[j]) && rec(end+1, j+1)
		case p[i] == '\\':
			r = i+1 < len(p) && p[i+1] == s[j] && rec(i+2, j+1)
		default:
			r = p[i] == s[j] && rec(i+1, j+1)
		}
		memo[k] = r
		return r
	}
	return rec(0, 0)
}

func TestMatch(t *testing.T) {
	cases := []struct {
		p, s string
		want bool
	}{
		{"", "", true}, {"", "a", false}, {"*", "", true}, {"*", "abc", true},
		{"a*", "abc", true}, {"a*", "ba", false}, {"*c", "abc", true}, {"*c", "abd", false},
		{"a?c", "abc", true}, {"a?c", "ac", false}, {"a?c", "abbc", false},
		{"a*b*c", "aXbYc", true}, {"a*b*c", "aXbY", false}, {"a**c", "ac", true},
		{"[ab]x", "bx", true}, {"[ab]x", "cx", false}, {"[^ab]x", "bx", false}, {"[^ab]x", "cx", true},
		{"[a-c]", "b", true}, {"[a-c]", "d", false}, {"[c-a]", "b", true}, {"[]]", "]", true},
		{"[^]]", "]", false}, {"[\\]]", "]", true}, {"[a\\-c]", "-", true}, {"[a\\-c]", "b", false},
		{"\\*", "*", true}, {"\\*", "a", false}, {"a\\", "a", false}, {"a\\", "a\\", false},
		{"[ab", "a", false}, {"*[ab", "xa", false},
		{"news:*", "news:", true}, {"news:*a*b", "news:xxaxxb", true}, {"news:*a*b", "news:xxbxxa", false},
		{"user:4\\?:*", "user:42:x", false}, {"user:4\\?:*", "user:4?:x", true},
	}
	for _, c := range cases {
		if got := Match(c.p, c.s); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.p, c.s, got, c.want)
		}
		if got := reference(c.p, c.s); got != c.want {
			t.Errorf("reference(%q, %q) = %v, want %v", c.p, c.s, got, c.want)
		}
	}
}

// A pattern that makes a backtracking matcher exponential costs Match at
// most (len(pattern)+1) × (len(s)+1) steps.
func TestMatchLinear(t *testing.T) {
	hostile := "news:*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b"
	for _, s := range []string{
		"news:" + strings.Repeat("a", 59),
		strings.Repeat("a", 64),
		"news:" + strings.Repeat("a", 4000),
		"news:" + strings.Repeat("ab", 30),
	} {
		ok, steps := match(hostile, s)
		if want := reference(hostile, s); ok != want {
			t.Errorf("match(%q) = %v, reference %v", s, ok, want)
		}
		if limit := (len(hostile) + 1) * (len(s) + 1); steps > limit {
			t.Errorf("%d-byte key: %d steps, over %d", len(s), steps, limit)
		}
	}
	// The same for every shape of star-heavy pattern against a long run of
	// one byte.
	s := strings.Repeat("a", 200)
	for stars := 1; stars <= 40; stars++ {
		p := strings.Repeat("*a", stars) + "*b"
		if ok, steps := match(p, s); ok || steps > (len(p)+1)*(len(s)+1) {
			t.Errorf("%d stars: %v after %d steps", stars, ok, steps)
		}
	}
}

// FuzzMatch checks Match against the reference matcher on arbitrary
// patterns and strings, including malformed patterns.
func FuzzMatch(f *testing.F) {
	for _, seed := range [][2]string{
		{"a*b?c", "axxbyc"}, {"[^a-c]*", "dzz"}, {"*a*a*a*b", "aaaaaaaa"}, {"\\[x]", "[x]"},
		{"[]a]*", "]]"}, {"[\\]-a]", "^"}, {"?*?", "ab"}, {"[ab", "a"}, {"x\\", "x"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, p, s string) {
		if len(p) > 64 || len(s) > 64 {
			return
		}
		ok, steps := match(p, s)
		if want := reference(p, s); ok != want {
			t.Fatalf("Match(%q, %q) = %v, reference %v", p, s, ok, want)
		}
		if limit := (len(p) + 1) * (len(s) + 1); steps > limit {
			t.Fatalf("Match(%q, %q): %d steps, over %d", p, s, steps, limit)
		}
	})
}
