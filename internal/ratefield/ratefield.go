// Package ratefield reads and writes the RateLimit and RateLimit-Policy
// header fields of draft-ietf-httpapi-ratelimit-headers-10: RFC 8941 lists
// of items named by policy, with integer, string, token or boolean
// parameters. ratelimithttp writes them, and reads back the field an
// enclosing limiter wrote so that chained limiters keep the tighter one.
package ratefield

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// ErrBad is returned by Parse for text that is not a structured field list
// of the shape used by RateLimit and RateLimit-Policy.
var ErrBad = errors.New("ratefield: malformed rate-limit header field")

// Item is one list member of a RateLimit or RateLimit-Policy field
// (draft-ietf-httpapi-ratelimit-headers-10): a policy name with parameters.
type Item struct {
	// Name is the policy name (an sf-string or token).
	Name string
	// Params are the item's parameters in order.
	Params []Param
}

// Param is one parameter of an Item. Only integer values carry a
// number (IsInt true); string, token and boolean values are kept as text.
type Param struct {
	Key   string
	Int   int64
	IsInt bool
	Text  string
}

// Int returns the integer value of the first parameter named key.
func (it Item) Int(key string) (int64, bool) {
	for _, p := range it.Params {
		if p.Key == key {
			return p.Int, p.IsInt
		}
	}
	return 0, false
}

// Seconds rounds d up to whole seconds (at least 0), as the fields need.
func Seconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// AppendPolicy appends a RateLimit-Policy member,
// `"name";q=<quota>;w=<window seconds>`, to dst.
func AppendPolicy(dst []byte, name string, quota int64, window time.Duration) []byte {
	dst = AppendString(dst, name)
	dst = append(dst, ";q="...)
	dst = strconv.AppendInt(dst, quota, 10)
	dst = append(dst, ";w="...)
	return strconv.AppendInt(dst, max(Seconds(window), 1), 10)
}

// AppendRateLimit appends a RateLimit member,
// `"name";r=<remaining>;t=<seconds until reset>`, to dst.
func AppendRateLimit(dst []byte, name string, remaining int64, reset time.Duration) []byte {
	dst = AppendString(dst, name)
	dst = append(dst, ";r="...)
	dst = strconv.AppendInt(dst, max(remaining, 0), 10)
	dst = append(dst, ";t="...)
	return strconv.AppendInt(dst, Seconds(reset), 10)
}

// AppendString appends s to dst as an RFC 8941 sf-string, quoted and
// escaped; bytes an sf-string cannot hold are written as '_'.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			c = '_' // not representable in an sf-string; names are validated anyway
		}
		if c == '"' || c == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, c)
	}
	return append(dst, '"')
}

// MaxInt is the largest magnitude of an RFC 8941 integer.
const MaxInt = 999_999_999_999_999

// Parse parses a RateLimit or RateLimit-Policy field value: an RFC
// 8941 list of items whose bare item is a string or token, with integer,
// string, token or boolean parameters. Inner lists and decimals are
// rejected. It never panics, whatever the input.
func Parse(s string) ([]Item, error) {
	p := sfParser{s: s}
	p.sp()
	var items []Item
	for p.i < len(p.s) {
		it, err := p.item()
		if err != nil {
			return nil, err
		}
		items = append(items, it)
		p.ows()
		if p.i >= len(p.s) {
			break
		}
		if p.s[p.i] != ',' {
			return nil, ErrBad
		}
		p.i++
		p.ows()
		if p.i >= len(p.s) {
			return nil, ErrBad // trailing comma
		}
	}
	return items, nil
}

type sfParser struct {
	s string
	i int
}

func (p *sfParser) sp() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *sfParser) ows() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *sfParser) item() (Item, error) {
	var it Item
	if p.i >= len(p.s) {
		return it, ErrBad
	}
	var err error
	switch c := p.s[p.i]; {
	case c == '"':
		it.Name, err = p.str()
	case isAlpha(c) || c == '*':
		it.Name = p.token()
	default:
		return it, ErrBad
	}
	if err != nil {
		return it, err
	}
	for p.i < len(p.s) && p.s[p.i] == ';' {
		p.i++
		p.sp()
		k := p.key()
		if k == "" {
			return it, ErrBad
		}
		fp := Param{Key: k, Text: "?1"}
		if p.i < len(p.s) && p.s[p.i] == '=' {
			p.i++
			if fp, err = p.value(k); err != nil {
				return it, err
			}
		}
		it.Params = append(it.Params, fp)
	}
	return it, nil
}

func (p *sfParser) key() string {
	start := p.i
	if p.i >= len(p.s) || !(p.s[p.i] >= 'a' && p.s[p.i] <= 'z' || p.s[p.i] == '*') {
		return ""
	}
	p.i++
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '*' {
			p.i++
			continue
		}
		break
	}
	return p.s[start:p.i]
}

func (p *sfParser) value(k string) (Param, error) {
	fp := Param{Key: k}
	if p.i >= len(p.s) {
		return fp, ErrBad
	}
	var err error
	switch c := p.s[p.i]; {
	case c == '-' || c >= '0' && c <= '9':
		fp.Int, err = p.integer()
		fp.IsInt = err == nil
		fp.Text = strconv.FormatInt(fp.Int, 10)
	case c == '"':
		fp.Text, err = p.str()
	case c == '?':
		if p.i+1 < len(p.s) && (p.s[p.i+1] == '0' || p.s[p.i+1] == '1') {
			fp.Text = p.s[p.i : p.i+2]
			p.i += 2
		} else {
			err = ErrBad
		}
	case isAlpha(c) || c == '*':
		fp.Text = p.token()
	default:
		err = ErrBad
	}
	return fp, err
}

func (p *sfParser) integer() (int64, error) {
	neg := false
	if p.s[p.i] == '-' {
		neg = true
		p.i++
	}
	start := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	n := p.i - start
	if n == 0 || n > 15 || (p.i < len(p.s) && p.s[p.i] == '.') {
		return 0, ErrBad
	}
	v, err := strconv.ParseInt(p.s[start:p.i], 10, 64)
	if err != nil || v > MaxInt {
		return 0, ErrBad
	}
	if neg {
		v = -v
	}
	return v, nil
}

func (p *sfParser) str() (string, error) {
	p.i++ // opening quote
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '\\':
			if p.i >= len(p.s) || (p.s[p.i] != '"' && p.s[p.i] != '\\') {
				return "", ErrBad
			}
			b.WriteByte(p.s[p.i])
			p.i++
		case c == '"':
			return b.String(), nil
		case c < 0x20 || c > 0x7e:
			return "", ErrBad
		default:
			b.WriteByte(c)
		}
	}
	return "", ErrBad // unterminated
}

func (p *sfParser) token() string {
	start := p.i
	p.i++
	for p.i < len(p.s) && isTChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isTChar(c byte) bool {
	if isAlpha(c) || c >= '0' && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~:/", c) >= 0
}
