package cachehttp

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Parsing of the fields RFC 9111 mode reads: Cache-Control (RFC 9111 §5.2),
// targeted cache-control fields such as CDN-Cache-Control (RFC 9213, RFC
// 8941 dictionaries), Age (§5.1) and HTTP-dates (RFC 9110 §5.6.7).

// badValue marks a directive whose value is malformed or given twice with
// different values: seconds rejects it, so a lifetime built from it is
// zero (RFC 9111 §4.2.1: such a response is treated as stale).
const badValue = "\x00"

// maxDelta is the largest delta-seconds value kept (RFC 9111 §1.2.2).
const maxDelta = time.Duration(1<<31) * time.Second

// isTchar reports whether c may appear in an RFC 9110 token.
func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// cacheControl parses Cache-Control field lines into directives with
// lower-cased names and unquoted values (RFC 9111 §5.2: a token or a
// quoted-string, no whitespace around "="; commas inside a quoted string
// do not separate directives). A malformed directive, or one repeated with
// a different value, gets badValue. It returns nil when there is no field.
func cacheControl(vs []string) map[string]string {
	if len(vs) == 0 {
		return nil
	}
	m := make(map[string]string, 4)
	for _, v := range vs {
		for i := 0; i < len(v); {
			// One directive: name [ "=" value ], up to the next comma.
			for i < len(v) && (v[i] == ' ' || v[i] == '\t' || v[i] == ',') {
				i++
			}
			start := i
			for i < len(v) && isTchar(v[i]) {
				i++
			}
			name := strings.ToLower(v[start:i])
			val, ok := "", true
			if i < len(v) && v[i] == '=' {
				i++
				val, i, ok = directiveValue(v, i)
			}
			for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
				i++
			}
			if i < len(v) && v[i] != ',' {
				ok = false // junk after the directive: skip to the next comma
				for i < len(v) && v[i] != ',' {
					if v[i] == '"' {
						_, i, _ = directiveValue(v, i)
						continue
					}
					i++
				}
			}
			if name == "" {
				if i == start {
					i++ // not a token at all: step over it
				}
				continue
			}
			if !ok {
				val = badValue
			}
			if old, dup := m[name]; dup && old != val {
				val = badValue
			}
			m[name] = val
		}
	}
	return m
}

// directiveValue reads a token or quoted-string at v[i:]; ok is false when
// neither is there.
func directiveValue(v string, i int) (string, int, bool) {
	if i < len(v) && v[i] == '"' {
		var b strings.Builder
		for i++; i < len(v); i++ {
			switch v[i] {
			case '\\':
				if i+1 < len(v) {
					i++
					b.WriteByte(v[i])
				}
			case '"':
				return b.String(), i + 1, true
			default:
				b.WriteByte(v[i])
			}
		}
		return "", i, false // unterminated
	}
	start := i
	for i < len(v) && isTchar(v[i]) {
		i++
	}
	return v[start:i], i, i > start
}

// seconds parses a delta-seconds value (1*DIGIT, leading zeros allowed);
// values beyond 2^31 are 2^31 (RFC 9111 §1.2.2). ok is false when
// malformed: empty, signed, fractional or not a number.
func seconds(v string) (time.Duration, bool) {
	if v == "" || strings.Trim(v, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n > 1<<31 {
		return maxDelta, true
	}
	return time.Duration(n) * time.Second, true
}

// ageOf reads the Age field (RFC 9111 §5.1): of a list, the first member;
// an invalid value is ignored (ok false).
func ageOf(h http.Header) (time.Duration, bool) {
	vs := h.Values("Age")
	if len(vs) == 0 {
		return 0, false
	}
	first, _, _ := strings.Cut(vs[0], ",")
	return seconds(strings.TrimSpace(first))
}

// targetedCacheControl returns the directives of the first field of names
// present in h with a valid, non-empty RFC 8941 dictionary value (RFC 9213
// §2.1), or nil when there is none.
func targetedCacheControl(h http.Header, names []string) map[string]string {
	for _, n := range names {
		vs := h.Values(n)
		if len(vs) == 0 {
			continue
		}
		if m, ok := parseTargeted(strings.Join(vs, ",")); ok && len(m) > 0 {
			return m
		}
	}
	return nil
}

// parseTargeted parses a targeted cache-control field: an RFC 8941
// dictionary whose members are booleans, integers (the delta-seconds
// directives must be non-negative integers, else the whole field is
// invalid) or other items (kept as present). Keys are matched without
// regard to case.
func parseTargeted(v string) (map[string]string, bool) {
	p := sfParser{s: v}
	m := map[string]string{}
	p.ows()
	for !p.done() {
		key, ok := p.key()
		if !ok {
			return nil, false
		}
		val, present := "", true
		if p.peek() == '=' {
			p.i++
			kind, item, ok := p.memberValue()
			if !ok {
				return nil, false
			}
			switch kind {
			case 'b':
				present = item == "1"
			case 'i':
				val = item
			default:
				val = badValue
			}
		} else if !p.params() {
			return nil, false
		}
		switch key {
		case "max-age", "s-maxage", "stale-while-revalidate", "stale-if-error":
			if _, ok := seconds(val); !ok {
				return nil, false
			}
		default:
			if val == badValue {
				val = ""
			}
		}
		if present {
			m[key] = val
		} else {
			delete(m, key)
		}
		p.ows()
		if p.done() {
			break
		}
		if p.peek() != ',' {
			return nil, false
		}
		p.i++
		p.ows()
		if p.done() {
			return nil, false // trailing comma
		}
	}
	return m, true
}

// sfParser reads RFC 8941 structured field values.
type sfParser struct {
	s string
	i int
}

func (p *sfParser) done() bool { return p.i >= len(p.s) }

func (p *sfParser) peek() byte {
	if p.done() {
		return 0
	}
	return p.s[p.i]
}

func (p *sfParser) ows() {
	for !p.done() && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *sfParser) key() (string, bool) {
	c := p.peek()
	if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '*') {
		return "", false
	}
	start := p.i
	for !p.done() {
		c := p.s[p.i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_-.*", c) >= 0) {
			break
		}
		p.i++
	}
	return strings.ToLower(p.s[start:p.i]), true
}

// memberValue reads an item or inner list with its parameters. kind is 'i'
// for an integer (item its digits), 'b' for a boolean (item "1" or "0"),
// 'x' for anything else.
func (p *sfParser) memberValue() (kind byte, item string, ok bool) {
	if p.peek() == '(' {
		p.i++
		for {
			for p.peek() == ' ' {
				p.i++
			}
			if p.peek() == ')' {
				p.i++
				return 'x', "", p.params()
			}
			if _, _, ok := p.bareItem(); !ok || !p.params() {
				return 0, "", false
			}
			if c := p.peek(); c != ' ' && c != ')' {
				return 0, "", false
			}
		}
	}
	kind, item, ok = p.bareItem()
	return kind, item, ok && p.params()
}

func (p *sfParser) params() bool {
	for p.peek() == ';' {
		p.i++
		for p.peek() == ' ' {
			p.i++
		}
		if _, ok := p.key(); !ok {
			return false
		}
		if p.peek() == '=' {
			p.i++
			if _, _, ok := p.bareItem(); !ok {
				return false
			}
		}
	}
	return true
}

func (p *sfParser) bareItem() (kind byte, item string, ok bool) {
	c := p.peek()
	switch {
	case c == '-' || c >= '0' && c <= '9':
		start := p.i
		p.i++
		digits, dot := 0, false
		if c != '-' {
			digits = 1
		}
		for !p.done() {
			c := p.s[p.i]
			if c == '.' && !dot {
				dot = true
			} else if c < '0' || c > '9' {
				break
			} else {
				digits++
			}
			p.i++
		}
		num := p.s[start:p.i]
		if digits == 0 || strings.HasSuffix(num, ".") || !dot && digits > 15 || dot && digits > 15 {
			return 0, "", false
		}
		if dot || c == '-' {
			return 'x', num, true
		}
		return 'i', num, true
	case c == '"':
		for p.i++; !p.done(); p.i++ {
			switch p.s[p.i] {
			case '\\':
				p.i++
				if c := p.peek(); c != '"' && c != '\\' {
					return 0, "", false
				}
			case '"':
				p.i++
				return 'x', "", true
			default:
				if p.s[p.i] < 0x20 || p.s[p.i] > 0x7e {
					return 0, "", false
				}
			}
		}
		return 0, "", false
	case c == '?':
		p.i++
		switch p.peek() {
		case '0', '1':
			b := p.s[p.i : p.i+1]
			p.i++
			return 'b', b, true
		}
		return 0, "", false
	case c == ':':
		end := strings.IndexByte(p.s[p.i+1:], ':')
		if end < 0 {
			return 0, "", false
		}
		p.i += end + 2
		return 'x', "", true
	case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '*':
		for !p.done() && (isTchar(p.s[p.i]) || p.s[p.i] == ':' || p.s[p.i] == '/') {
			p.i++
		}
		return 'x', "", true
	}
	return 0, "", false
}

// Day and month names of HTTP-dates, case-sensitive (RFC 9110 §5.6.7).
var (
	dayNames  = []string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
	longDays  = []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
	monthName = []string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
)

// parseHTTPDate parses an HTTP-date strictly (RFC 9110 §5.6.7): the
// IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", or the obsolete RFC 850
// "Sunday, 06-Nov-94 08:49:37 GMT" and asctime "Sun Nov  6 08:49:37 1994"
// forms, with exact spacing and two-digit hours. Day, month and zone names
// match without regard to case, and the weekday is not checked against the
// date (it is redundant; origins get it wrong), as the conformance corpus
// expects of a robust recipient. Anything else is invalid.
func parseHTTPDate(s string) (time.Time, bool) {
	var wday, day, mon, year, clock string
	switch {
	case len(s) == 29 && s[3] == ',' && s[4] == ' ' && s[7] == ' ' && s[11] == ' ' && s[16] == ' ' && strings.EqualFold(s[25:], " GMT"):
		wday, day, mon, year, clock = s[:3], s[5:7], s[8:11], s[12:16], s[17:25]
	case len(s) == 24 && s[3] == ' ' && s[7] == ' ' && s[10] == ' ' && s[19] == ' ':
		wday, mon, day, clock, year = s[:3], s[4:7], s[8:10], s[11:19], s[20:]
		if day[0] == ' ' {
			day = "0" + day[1:]
		}
	default:
		comma := strings.IndexByte(s, ',')
		if comma < 0 || len(s) != comma+24 {
			return time.Time{}, false
		}
		r := s[comma:]
		if r[:2] != ", " || r[4] != '-' || r[8] != '-' || r[11] != ' ' || !strings.EqualFold(r[20:], " GMT") {
			return time.Time{}, false
		}
		i := indexOf(longDays, s[:comma])
		if i < 0 {
			return time.Time{}, false
		}
		wday, day, mon, year, clock = dayNames[i], r[2:4], r[5:8], r[9:11], r[12:20]
	}
	num := func(v string) int {
		n := 0
		for i := 0; i < len(v); i++ {
			if v[i] < '0' || v[i] > '9' {
				return -1
			}
			n = n*10 + int(v[i]-'0')
		}
		return n
	}
	wd, m := indexOf(dayNames, wday), indexOf(monthName, mon)
	d, y := num(day), num(year)
	if len(clock) != 8 || clock[2] != ':' || clock[5] != ':' {
		return time.Time{}, false
	}
	hh, mm, ss := num(clock[:2]), num(clock[3:5]), num(clock[6:])
	if wd < 0 || m < 0 || d < 1 || y < 0 || hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60 {
		return time.Time{}, false
	}
	if len(year) == 2 {
		// RFC 9110 §5.6.7: a two-digit year more than 50 years in the
		// future is the most recent past year with those digits.
		y += time.Now().UTC().Year() / 100 * 100
		if y > time.Now().UTC().Year()+50 {
			y -= 100
		}
	}
	t := time.Date(y, time.Month(m+1), d, hh, mm, min(ss, 59), 0, time.UTC)
	if t.Day() != d {
		return time.Time{}, false
	}
	return t, true
}

func indexOf(names []string, s string) int {
	for i, n := range names {
		if strings.EqualFold(n, s) {
			return i
		}
	}
	return -1
}
