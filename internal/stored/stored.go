// Package stored encodes, decodes and replays complete HTTP responses: the
// cache entries of cachehttp and the idempotent replays of lockhttp.
package stored

import (
	"encoding/binary"
	"errors"
	"net/http"
	"sort"
	"strconv"
)

// ErrCorrupt is returned by Decode for bytes that are not a
// well-formed encoded response (truncated, oversized counts, wrong version).
// Callers treat such an entry as absent and delete it.
var ErrCorrupt = errors.New("stored: corrupt response")

// Response is a complete HTTP response kept for later replay: by
// cachehttp for cache hits and by lockhttp for idempotent replays.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

const storedVersion = 1

// Encode appends a compact binary encoding of s to dst and returns it.
// Header names are written in sorted order with every value, so equal
// responses encode to equal bytes.
func (s *Response) Encode(dst []byte) []byte {
	dst = append(dst, storedVersion)
	dst = binary.AppendUvarint(dst, uint64(s.Status))
	names := make([]string, 0, len(s.Header))
	for k := range s.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	dst = binary.AppendUvarint(dst, uint64(len(names)))
	for _, k := range names {
		dst = appendString(dst, k)
		vs := s.Header[k]
		dst = binary.AppendUvarint(dst, uint64(len(vs)))
		for _, v := range vs {
			dst = appendString(dst, v)
		}
	}
	dst = binary.AppendUvarint(dst, uint64(len(s.Body)))
	return append(dst, s.Body...)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// Decode decodes bytes made by Encode. The returned Body aliases b.
// It never panics on hostile input: any inconsistency is ErrCorrupt.
func Decode(b []byte) (Response, error) {
	var s Response
	d := decoder{b: b}
	if v := d.byte(); v != storedVersion {
		return s, ErrCorrupt
	}
	st := d.uvarint()
	if st < 100 || st > 999 {
		return s, ErrCorrupt
	}
	s.Status = int(st)
	n := d.uvarint()
	if n > uint64(len(d.b)) { // every header needs at least one byte
		return s, ErrCorrupt
	}
	s.Header = make(http.Header, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		k := d.string()
		nv := d.uvarint()
		if nv > uint64(len(d.b)) {
			return s, ErrCorrupt
		}
		vs := make([]string, 0, nv)
		for j := uint64(0); j < nv && d.err == nil; j++ {
			vs = append(vs, d.string())
		}
		s.Header[k] = vs
	}
	bl := d.uvarint()
	if d.err != nil || bl != uint64(len(d.b)) {
		return s, ErrCorrupt
	}
	s.Body = d.b
	return s, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = ErrCorrupt
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = ErrCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	l := d.uvarint()
	if d.err != nil || l > uint64(len(d.b)) {
		d.err = ErrCorrupt
		return ""
	}
	s := string(d.b[:l])
	d.b = d.b[l:]
	return s
}

// WriteTo writes the stored response to w: its headers (replacing any of the
// same name already set on w, keeping others such as rate-limit headers),
// its status and its body. HEAD requests get the headers only. Extra
// headers may be set on w by the caller before.
func (s *Response) WriteTo(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	for k, vs := range s.Header {
		h[k] = vs
	}
	if h.Get("Content-Length") == "" && s.Status != http.StatusNoContent && s.Status != http.StatusNotModified {
		h.Set("Content-Length", strconv.Itoa(len(s.Body)))
	}
	w.WriteHeader(s.Status)
	if r == nil || r.Method != http.MethodHead {
		_, _ = w.Write(s.Body)
	}
}
