// Package recorder captures a response while passing it through to the
// client, for the packages that must see a response to store or replay it.
package recorder

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
)

// Recorder wraps a ResponseWriter, passes everything through to the client
// and keeps a copy of the final status, the headers as sent and the body up
// to a byte cap. Packages that must see a response (cachehttp to store it,
// lockhttp to replay it) use it.
//
// Rules it follows: only the first final status is recorded; 1xx
// informational responses (other than 101) go straight through without
// counting as final; the body copy stops at the cap and marks the recording
// as overflowed while the client still gets every byte; Flush and Hijack are
// forwarded, and mark the recording as streamed or hijacked, so callers know
// not to store it. Use Writer to get a ResponseWriter that offers Flush and
// Hijack only when the wrapped writer does, and Unwrap keeps
// http.ResponseController working through it.
type Recorder struct {
	w         http.ResponseWriter
	max       int
	status    int
	body      bytes.Buffer
	written   int64
	overflow  bool
	flushed   bool
	hijacked  bool
	sentHdr   http.Header
	beforeHdr func(status int, h http.Header)
}

// New returns a Recorder over w that keeps at most maxBody bytes of
// the body (0 keeps none, a negative value keeps everything).
func New(w http.ResponseWriter, maxBody int) *Recorder {
	return &Recorder{w: w, max: maxBody}
}

// BeforeHeader sets a function that runs once, just before the final status
// line and headers go to the client, with the status and the live header map
// it may still change (to add X-Cache, for example).
func (r *Recorder) BeforeHeader(f func(status int, h http.Header)) { r.beforeHdr = f }

// Header returns the wrapped writer's header map.
func (r *Recorder) Header() http.Header { return r.w.Header() }

// WriteHeader sends the status. 1xx informational statuses (except 101) are
// passed through and not recorded (and dropped once a final status went
// out); final statuses after the first are ignored, as net/http does.
func (r *Recorder) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		if r.status == 0 { // after the final status it would be superfluous
			r.w.WriteHeader(code)
		}
		return
	}
	if r.status != 0 {
		return
	}
	r.status = code
	if r.beforeHdr != nil {
		r.beforeHdr(code, r.w.Header())
	}
	r.sentHdr = r.w.Header().Clone()
	r.w.WriteHeader(code)
}

// Write sends p to the client and keeps a copy within the cap.
func (r *Recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	if !r.overflow {
		switch {
		case r.max < 0 || r.body.Len()+len(p) <= r.max:
			r.body.Write(p)
		default:
			r.overflow = true
			r.body = bytes.Buffer{} // release what was kept
		}
	}
	n, err := r.w.Write(p)
	r.written += int64(n)
	return n, err
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (r *Recorder) Unwrap() http.ResponseWriter { return r.w }

// Status returns the recorded final status, or 0 when none was sent yet.
func (r *Recorder) Status() int { return r.status }

// SentHeader returns the headers as they were when the status was sent, or
// nil before that.
func (r *Recorder) SentHeader() http.Header { return r.sentHdr }

// Body returns the recorded body copy. It is empty when Overflowed.
func (r *Recorder) Body() []byte { return r.body.Bytes() }

// Written returns how many body bytes reached the wrapped writer.
func (r *Recorder) Written() int64 { return r.written }

// Overflowed reports whether the body outgrew the cap, so the copy is gone.
func (r *Recorder) Overflowed() bool { return r.overflow }

// Streamed reports whether the handler flushed the response (SSE and other
// streams), or hijacked the connection.
func (r *Recorder) Streamed() bool { return r.flushed || r.hijacked }

// Hijacked reports whether the handler took over the connection.
func (r *Recorder) Hijacked() bool { return r.hijacked }

// Complete reports whether the recording holds the whole response: a final
// status was sent, the body fit the cap, and nothing was streamed or hijacked.
func (r *Recorder) Complete() bool {
	return r.status >= 200 && !r.overflow && !r.Streamed()
}

func (r *Recorder) flush() {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	r.flushed = true
	if f, ok := r.w.(http.Flusher); ok {
		f.Flush()
		return
	}
	_ = http.NewResponseController(r.w).Flush() // found through Unwrap
}

func (r *Recorder) hijack() (net.Conn, *bufio.ReadWriter, error) {
	var (
		c   net.Conn
		rw  *bufio.ReadWriter
		err error
	)
	if h, ok := r.w.(http.Hijacker); ok {
		c, rw, err = h.Hijack()
	} else {
		c, rw, err = http.NewResponseController(r.w).Hijack() // through Unwrap
	}
	if err == nil {
		r.hijacked = true
	}
	return c, rw, err
}

// maxUnwrap bounds the walk down a chain of Unwrap methods.
const maxUnwrap = 32

// supports reports whether w, or a writer reached from it through Unwrap
// (as http.ResponseController looks), has the capability has checks for.
func supports(w http.ResponseWriter, has func(http.ResponseWriter) bool) bool {
	for range maxUnwrap {
		if has(w) {
			return true
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return false
		}
		w = u.Unwrap()
	}
	return false
}

func canFlush(w http.ResponseWriter) bool {
	switch w.(type) {
	case http.Flusher, interface{ FlushError() error }:
		return true
	}
	return false
}

func canHijack(w http.ResponseWriter) bool {
	_, ok := w.(http.Hijacker)
	return ok
}

type flushRecorder struct{ *Recorder }

func (f flushRecorder) Flush() { f.flush() }

type hijackRecorder struct{ *Recorder }

func (h hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) { return h.hijack() }

type flushHijackRecorder struct{ *Recorder }

func (f flushHijackRecorder) Flush() { f.flush() }
func (f flushHijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return f.hijack()
}

var (
	_ http.ResponseWriter = (*Recorder)(nil)
	_ http.Flusher        = flushRecorder{}
	_ http.Hijacker       = hijackRecorder{}
	_ http.Flusher        = flushHijackRecorder{}
	_ http.Hijacker       = flushHijackRecorder{}
)

// Writer returns r as an http.ResponseWriter that implements http.Flusher
// and http.Hijacker exactly when the wrapped writer does, directly or through
// its own Unwrap chain (as http.ResponseController would find them). Pass it
// to the next handler, so that flushes and hijacks go through the Recorder
// and mark the recording as streamed instead of bypassing it.
func (r *Recorder) Writer() http.ResponseWriter {
	fl := supports(r.w, canFlush)
	hj := supports(r.w, canHijack)
	switch {
	case fl && hj:
		return flushHijackRecorder{r}
	case fl:
		return flushRecorder{r}
	case hj:
		return hijackRecorder{r}
	}
	return r
}
