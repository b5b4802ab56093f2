// Package glob matches strings against Redis-style glob patterns in linear
// time per star: '*' (any run of bytes), '?' (one byte), '[abc]', '[a-z]',
// '[^...]' (a class, negated with a leading '^', '\' escaping inside it; a
// ']' right after '[' or '[^' is literal) and '\x' (a literal x).
//
// A naive recursive matcher backtracks into every '*' and takes exponential
// time on a pattern such as "*a*a*a*a*a*b" against a long key; Match keeps
// only the position of the last '*' and costs at most
// O(len(pattern) × len(s)) byte comparisons, whatever the input.
package glob

// Match reports whether s matches pattern. A malformed part of the pattern
// (a '[' with no closing ']', a trailing '\') matches nothing; callers that
// must reject such patterns check them with ClassEnd first.
func Match(pattern, s string) bool {
	ok, _ := match(pattern, s)
	return ok
}

// match is Match that also returns the number of pattern elements it
// visited, which never exceeds (len(pattern)+1) × (len(s)+1).
//
// Every element other than '*' consumes exactly one byte of s, so when a
// later element fails only the last '*' needs to take one more byte: an
// earlier '*' taking more could only move the part after the last '*'
// further right, which the last '*' can do by itself.
func match(p, s string) (ok bool, steps int) {
	px, sx := 0, 0
	starP, starS := -1, 0 // the last '*' seen and where s resumes after it
	for px < len(p) || sx < len(s) {
		steps++
		if px < len(p) {
			switch c := p[px]; c {
			case '*':
				starP, starS = px, sx+1
				px++
				continue
			case '?':
				if sx < len(s) {
					px++
					sx++
					continue
				}
			case '[':
				if j := ClassEnd(p, px); j >= 0 && sx < len(s) && classMatch(p[px+1:j], s[sx]) {
					px = j + 1
					sx++
					continue
				}
			case '\\':
				if px+1 < len(p) && sx < len(s) && p[px+1] == s[sx] {
					px += 2
					sx++
					continue
				}
			default:
				if sx < len(s) && c == s[sx] {
					px++
					sx++
					continue
				}
			}
		}
		if starP >= 0 && starS <= len(s) {
			px, sx = starP, starS
			continue
		}
		return false, steps
	}
	return true, steps
}

// ClassEnd returns the index of the ']' closing the class opened by the '['
// at p[i], or -1 when it is not closed. A ']' right after "[" or "[^" is a
// member of the class, not its end.
func ClassEnd(p string, i int) int {
	j := i + 1
	if j < len(p) && p[j] == '^' {
		j++
	}
	if j < len(p) && p[j] == ']' { // a leading ']' is literal
		j++
	}
	for ; j < len(p); j++ {
		switch p[j] {
		case '\\':
			j++
		case ']':
			return j
		}
	}
	return -1
}

// classMatch reports whether c is in the class whose members (between the
// brackets) are cls.
func classMatch(cls string, c byte) bool {
	neg := false
	if len(cls) > 0 && cls[0] == '^' {
		neg, cls = true, cls[1:]
	}
	match := false
	for i := 0; i < len(cls); i++ {
		lo := cls[i]
		if lo == '\\' && i+1 < len(cls) {
			i++
			lo = cls[i]
		}
		hi := lo
		if i+2 < len(cls) && cls[i+1] == '-' {
			hi = cls[i+2]
			if hi == '\\' && i+3 < len(cls) {
				hi = cls[i+3]
				i++
			}
			i += 2
			if lo > hi {
				lo, hi = hi, lo
			}
		}
		if lo <= c && c <= hi {
			match = true
		}
	}
	return match != neg
}
