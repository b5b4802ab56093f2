package cachehttp

import (
	"bytes"
	"net/http"
)

// headOnly passes headers to the client and drops the body: a HEAD request
// fills the cache by running the handler as GET.
type headOnly struct{ http.ResponseWriter }

func (h headOnly) Write(p []byte) (int, error) { return len(p), nil }
func (h headOnly) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// deferWriter holds a response back until it is complete, so that a 5xx can
// be replaced by a stale entry (stale-if-error). It commits to the client
// early (and then passes everything through) when the body outgrows max or
// the handler flushes; such a response is not stored.
type deferWriter struct {
	w         http.ResponseWriter
	h         http.Header
	status    int
	buf       bytes.Buffer
	max       int
	committed bool
	streamed  bool
	through   bool // passThrough: commit at the status
	before    func(status int, h http.Header)
}

func newDeferWriter(w http.ResponseWriter, max int, before func(int, http.Header)) *deferWriter {
	return &deferWriter{w: w, h: make(http.Header), max: max, before: before}
}

func (d *deferWriter) Header() http.Header { return d.h }

func (d *deferWriter) WriteHeader(code int) {
	if code < 200 || d.status != 0 {
		return // informational responses are not forwarded while deferring
	}
	d.status = code
	if d.through {
		_ = d.commit()
	}
}

// passThrough stops deferring a response the handler returned without
// writing: the headers it set move to the client's writer, and a status or
// body written later (by a framework around the middleware) goes straight
// through. Such a response is never stored.
func (d *deferWriter) passThrough() {
	h := d.w.Header()
	for k, vs := range d.h {
		h[k] = vs
	}
	d.h = h
	d.through = true
	d.streamed = true
}

func (d *deferWriter) Write(p []byte) (int, error) {
	if d.status == 0 {
		d.WriteHeader(http.StatusOK)
	}
	if d.committed {
		return d.w.Write(p)
	}
	if d.buf.Len()+len(p) > d.max {
		d.streamed = true
		if err := d.commit(); err != nil {
			return 0, err
		}
		return d.w.Write(p)
	}
	return d.buf.Write(p)
}

// Flush commits and flushes: a streamed response is never stored.
func (d *deferWriter) Flush() {
	if d.status == 0 {
		d.WriteHeader(http.StatusOK)
	}
	d.streamed = true
	_ = d.commit()
	_ = http.NewResponseController(d.w).Flush()
}

func (d *deferWriter) Unwrap() http.ResponseWriter { return d.w }

// commit sends the held status, headers and body to the client.
func (d *deferWriter) commit() error {
	if d.committed {
		return nil
	}
	d.committed = true
	if d.status == 0 {
		d.status = http.StatusOK
	}
	h := d.w.Header()
	for k, vs := range d.h {
		h[k] = vs
	}
	if d.before != nil {
		d.before(d.status, h)
	}
	d.w.WriteHeader(d.status)
	if d.buf.Len() > 0 {
		_, err := d.w.Write(d.buf.Bytes())
		return err
	}
	return nil
}

// bufferWriter captures a whole response for a background refresh.
type bufferWriter struct {
	h        http.Header
	status   int
	buf      bytes.Buffer
	max      int
	overflow bool
}

func (b *bufferWriter) Header() http.Header {
	if b.h == nil {
		b.h = make(http.Header)
	}
	return b.h
}

func (b *bufferWriter) WriteHeader(code int) {
	if code >= 200 && b.status == 0 {
		b.status = code
	}
}

func (b *bufferWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	if !b.overflow {
		if b.buf.Len()+len(p) > b.max {
			b.overflow = true
			b.buf = bytes.Buffer{}
		} else {
			b.buf.Write(p)
		}
	}
	return len(p), nil
}

var (
	_ http.Flusher                              = (*deferWriter)(nil)
	_ interface{ Unwrap() http.ResponseWriter } = headOnly{}
)
