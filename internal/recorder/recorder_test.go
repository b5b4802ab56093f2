package recorder_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/recorder"
)

// recording wraps h so each response goes through a Recorder (passed on as
// rec.Writer()); the finished Recorder is sent on the returned channel.
func recording(maxBody int, h http.HandlerFunc) (http.Handler, <-chan *recorder.Recorder) {
	ch := make(chan *recorder.Recorder, 16)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := recorder.New(w, maxBody)
		defer func() { ch <- rec }()
		h(rec.Writer(), r)
	}), ch
}

func TestRecorderStatus(t *testing.T) {
	tests := []struct {
		name       string
		h          http.HandlerFunc
		wantStatus int
		wantBody   string
		complete   bool
	}{
		{"implicit 200", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "hi") }, 200, "hi", true},
		{"explicit", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, "made")
		}, 201, "made", true},
		{"first final status wins", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNotFound)
			w.WriteHeader(http.StatusOK)
			w.WriteHeader(http.StatusInternalServerError)
		}, 404, "", true},
		{"status after body ignored", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "x")
			w.WriteHeader(http.StatusTeapot)
		}, 200, "x", true},
		{"1xx not recorded", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusContinue)
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusAccepted)
		}, 202, "", true},
		{"no status yet", func(w http.ResponseWriter, r *http.Request) {}, 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			rec := recorder.New(w, -1)
			tt.h(rec.Writer(), httptest.NewRequest("GET", "/", nil))
			if rec.Status() != tt.wantStatus {
				t.Errorf("Status = %d, want %d", rec.Status(), tt.wantStatus)
			}
			// httptest.ResponseRecorder keeps the first code it sees, 1xx
			// included; TestRecorderEarlyHints checks 1xx on a real server.
			if tt.wantStatus != 0 && w.Code != tt.wantStatus && w.Code >= 200 {
				t.Errorf("client got %d, want %d", w.Code, tt.wantStatus)
			}
			if string(rec.Body()) != tt.wantBody || w.Body.String() != tt.wantBody {
				t.Errorf("Body = %q, client %q, want %q", rec.Body(), w.Body.String(), tt.wantBody)
			}
			if rec.Complete() != tt.complete {
				t.Errorf("Complete = %v, want %v", rec.Complete(), tt.complete)
			}
		})
	}
}

func TestRecorderSentHeaderAndBeforeHeader(t *testing.T) {
	w := httptest.NewRecorder()
	rec := recorder.New(w, -1)
	if rec.SentHeader() != nil {
		t.Error("SentHeader before WriteHeader is not nil")
	}
	calls := 0
	rec.BeforeHeader(func(status int, h http.Header) {
		calls++
		if status != http.StatusAccepted {
			t.Errorf("BeforeHeader status %d", status)
		}
		h.Set("X-Cache", "MISS")
	})
	rec.Header().Set("Content-Type", "text/plain")
	rec.WriteHeader(http.StatusAccepted)
	rec.Header().Set("X-Late", "1") // after the status: not sent
	rec.WriteHeader(http.StatusOK)
	_, _ = rec.Write([]byte("ok"))
	if calls != 1 {
		t.Errorf("BeforeHeader ran %d times", calls)
	}
	sent := rec.SentHeader()
	if sent.Get("X-Cache") != "MISS" || sent.Get("Content-Type") != "text/plain" || sent.Get("X-Late") != "" {
		t.Errorf("SentHeader = %v", sent)
	}
	if w.Result().Header.Get("X-Cache") != "MISS" {
		t.Error("client did not get the header BeforeHeader added")
	}
	// SentHeader is a snapshot, not the live map.
	rec.Header().Set("Content-Type", "changed")
	if sent.Get("Content-Type") != "text/plain" {
		t.Error("SentHeader aliases the live header map")
	}
}

func TestRecorderBodyCap(t *testing.T) {
	chunks := []string{"aaaa", "bbbb", "cc"} // 10 bytes
	tests := []struct {
		max        int
		wantBody   string
		overflowed bool
	}{
		{-1, "aaaabbbbcc", false},
		{10, "aaaabbbbcc", false},
		{9, "", true},
		{4, "", true},
		{0, "", true},
	}
	for _, tt := range tests {
		t.Run(itoa(tt.max), func(t *testing.T) {
			w := httptest.NewRecorder()
			rec := recorder.New(w, tt.max)
			for _, c := range chunks {
				n, err := rec.Write([]byte(c))
				if n != len(c) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if got := w.Body.String(); got != "aaaabbbbcc" {
				t.Errorf("client got %q: every byte must reach the client", got)
			}
			if string(rec.Body()) != tt.wantBody || rec.Overflowed() != tt.overflowed {
				t.Errorf("Body = %q, Overflowed = %v; want %q, %v", rec.Body(), rec.Overflowed(), tt.wantBody, tt.overflowed)
			}
			if rec.Written() != 10 {
				t.Errorf("Written = %d", rec.Written())
			}
			if rec.Complete() == tt.overflowed {
				t.Errorf("Complete = %v with Overflowed = %v", rec.Complete(), tt.overflowed)
			}
		})
	}
	t.Run("zero cap, empty body", func(t *testing.T) {
		rec := recorder.New(httptest.NewRecorder(), 0)
		rec.WriteHeader(http.StatusNoContent)
		if !rec.Complete() || rec.Overflowed() {
			t.Errorf("Complete = %v, Overflowed = %v", rec.Complete(), rec.Overflowed())
		}
	})
}

func itoa(n int) string { return strconv.Itoa(n) }

// countingWriter counts the WriteHeader calls that reach it.
type countingWriter struct {
	http.ResponseWriter
	codes []int
}

func (c *countingWriter) WriteHeader(code int) {
	c.codes = append(c.codes, code)
	c.ResponseWriter.WriteHeader(code)
}

func TestRecorderPassesOnlyValidStatuses(t *testing.T) {
	cw := &countingWriter{ResponseWriter: httptest.NewRecorder()}
	rec := recorder.New(cw, -1)
	rec.WriteHeader(http.StatusContinue)
	rec.WriteHeader(http.StatusEarlyHints)
	rec.WriteHeader(http.StatusOK)
	rec.WriteHeader(http.StatusEarlyHints) // after the final status: dropped
	rec.WriteHeader(http.StatusNotFound)   // second final status: dropped
	if got := fmt.Sprint(cw.codes); got != "[100 103 200]" {
		t.Errorf("inner writer got %s, want [100 103 200]", got)
	}
}

func TestRecorderBodyCapOverRealServer(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	h, recs := recording(4096, func(w http.ResponseWriter, r *http.Request) {
		for b := big; len(b) > 0; b = b[min(len(b), 1000):] {
			_, _ = w.Write(b[:min(len(b), 1000)])
		}
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("client got %d bytes (err %v), want %d", len(got), err, len(big))
	}
	rec := <-recs
	if !rec.Overflowed() || len(rec.Body()) != 0 || rec.Complete() || rec.Written() != int64(len(big)) {
		t.Errorf("Overflowed %v, kept %d, Complete %v, Written %d", rec.Overflowed(), len(rec.Body()), rec.Complete(), rec.Written())
	}
}

// TestRecorderEarlyHints sends 103 Early Hints through the Recorder over a
// real connection; the client sees the 1xx and then the final response.
func TestRecorderEarlyHints(t *testing.T) {
	h, recs := recording(-1, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "<html>")
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	var mu sync.Mutex
	var got1xx []int
	var hints []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, hdr textproto.MIMEHeader) error {
		mu.Lock()
		defer mu.Unlock()
		got1xx = append(got1xx, code)
		hints = append(hints, hdr.Get("Link"))
		return nil
	}}
	ctx := httptrace.WithClientTrace(context.Background(), trace)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(got1xx) != 1 || got1xx[0] != http.StatusEarlyHints || !strings.Contains(hints[0], "style.css") {
		t.Errorf("1xx seen by client: %v %q", got1xx, hints)
	}
	if resp.StatusCode != 200 || string(body) != "<html>" {
		t.Errorf("final: %d %q", resp.StatusCode, body)
	}
	rec := <-recs
	if rec.Status() != 200 || !rec.Complete() || string(rec.Body()) != "<html>" {
		t.Errorf("recorded %d complete=%v %q", rec.Status(), rec.Complete(), rec.Body())
	}
}

// bareWriter has neither Flush nor Hijack.
type bareWriter struct{ http.ResponseWriter }

type flushOnly struct{ http.ResponseWriter }

func (f flushOnly) Flush() {}

type hijackOnly struct{ http.ResponseWriter }

func (hijackOnly) Hijack() (net.Conn, *bufio.ReadWriter, error) { return nil, nil, errors.New("no") }

type both struct{ http.ResponseWriter }

func (both) Flush() {}
func (both) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return nil, nil, errors.New("no")
}

// unwrapOnly is a wrapper from some other middleware that offers nothing
// but Unwrap, as many modern wrappers do.
type unwrapOnly struct{ http.ResponseWriter }

func (u unwrapOnly) Unwrap() http.ResponseWriter { return u.ResponseWriter }

// TestRecorderUnderUnwrapOnlyWrapper: when the Recorder wraps a writer that
// reaches Flush and Hijack only through Unwrap, Writer() still offers them
// and the flush is recorded; otherwise a streamed response would bypass the
// Recorder and look complete (and cacheable).
func TestRecorderUnderUnwrapOnlyWrapper(t *testing.T) {
	recs := make(chan *recorder.Recorder, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := recorder.New(unwrapOnly{w}, -1)
		defer func() { recs <- rec }()
		rw := rec.Writer()
		if _, ok := rw.(http.Flusher); !ok {
			t.Error("Writer() hides Flush reachable through Unwrap")
		}
		if _, ok := rw.(http.Hijacker); !ok {
			t.Error("Writer() hides Hijack reachable through Unwrap")
		}
		_, _ = io.WriteString(rw, "data: 1\n\n")
		if err := http.NewResponseController(rw).Flush(); err != nil {
			t.Errorf("Flush: %v", err)
		}
	}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "data: 1\n\n" {
		t.Errorf("body %q", body)
	}
	if rec := <-recs; !rec.Streamed() || rec.Complete() {
		t.Errorf("flush through an Unwrap-only writer not recorded: Streamed %v Complete %v", rec.Streamed(), rec.Complete())
	}
	// And a hijack through it.
	srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := recorder.New(unwrapOnly{w}, -1)
		defer func() { recs <- rec }()
		conn, brw, err := http.NewResponseController(rec.Writer()).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 204 No Content\r\n\r\n")
		_ = brw.Flush()
	}))
	defer srv2.Close()
	resp, err = srv2.Client().Get(srv2.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if rec := <-recs; !rec.Hijacked() || resp.StatusCode != 204 {
		t.Errorf("Hijacked %v, status %d", rec.Hijacked(), resp.StatusCode)
	}
}

func TestRecorderWriterInterfaces(t *testing.T) {
	base := httptest.NewRecorder()
	tests := []struct {
		name          string
		inner         http.ResponseWriter
		flush, hijack bool
	}{
		{"bare", bareWriter{base}, false, false},
		{"flusher", flushOnly{base}, true, false},
		{"hijacker", hijackOnly{base}, false, true},
		{"both", both{base}, true, true},
		{"httptest.ResponseRecorder", base, true, false},
		{"unwrap to bare", unwrapOnly{bareWriter{base}}, false, false},
		{"unwrap to both", unwrapOnly{both{base}}, true, true},
		{"unwrap twice to flusher", unwrapOnly{unwrapOnly{flushOnly{base}}}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := recorder.New(tt.inner, -1)
			w := rec.Writer()
			_, fl := w.(http.Flusher)
			_, hj := w.(http.Hijacker)
			if fl != tt.flush || hj != tt.hijack {
				t.Errorf("Flusher %v Hijacker %v, want %v %v", fl, hj, tt.flush, tt.hijack)
			}
			u, ok := w.(interface{ Unwrap() http.ResponseWriter })
			if !ok || u.Unwrap() != tt.inner {
				t.Error("Writer() does not unwrap to the inner writer")
			}
			if rec.Unwrap() != tt.inner {
				t.Error("Unwrap is not the inner writer")
			}
			rc := http.NewResponseController(w)
			err := rc.Flush()
			if tt.flush != (err == nil) {
				t.Errorf("ResponseController.Flush = %v", err)
			}
			if tt.flush && !rec.Streamed() {
				t.Error("Flush did not mark the recording as streamed")
			}
			if !tt.flush && !errors.Is(err, http.ErrNotSupported) {
				t.Errorf("Flush error %v, want ErrNotSupported", err)
			}
			_, _, err = rc.Hijack()
			if !tt.hijack && !errors.Is(err, http.ErrNotSupported) {
				t.Errorf("Hijack error %v, want ErrNotSupported", err)
			}
			if tt.hijack && (err == nil || errors.Is(err, http.ErrNotSupported)) {
				t.Errorf("Hijack error %v, want the inner writer's", err)
			}
			if rec.Hijacked() {
				t.Error("a failed Hijack marked the recording hijacked")
			}
		})
	}
}

// TestRecorderSSE streams server-sent events through the Recorder over a real
// server: each event must reach the client before the next is written.
func TestRecorderSSE(t *testing.T) {
	next := make(chan struct{})
	h, recs := recording(-1, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for i := range 3 {
			_, _ = io.WriteString(w, "data: "+itoa(i)+"\n\n")
			if err := rc.Flush(); err != nil {
				t.Errorf("Flush: %v", err)
				return
			}
			select {
			case <-next: // the client read the event
			case <-time.After(10 * time.Second):
				t.Error("client never read the flushed event")
				return
			}
		}
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for i := range 3 {
		line, err := br.ReadString('\n')
		if err != nil || line != "data: "+itoa(i)+"\n" {
			t.Fatalf("event %d: %q, %v", i, line, err)
		}
		_, _ = br.ReadString('\n')
		next <- struct{}{}
	}
	rec := <-recs
	if !rec.Streamed() || rec.Complete() || rec.Status() != 200 {
		t.Errorf("Streamed %v Complete %v Status %d", rec.Streamed(), rec.Complete(), rec.Status())
	}
}

// TestRecorderHijack takes over the connection through the Recorder with
// http.ResponseController and speaks raw bytes on it.
func TestRecorderHijack(t *testing.T) {
	h, recs := recording(-1, func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		_ = brw.Flush()
		line, _ := brw.ReadString('\n')
		_, _ = brw.WriteString("echo: " + line)
		_ = brw.Flush()
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade response: %v %v", resp, err)
	}
	_, _ = io.WriteString(conn, "ping\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "echo: ping\n" {
		t.Fatalf("raw reply %q, %v", line, err)
	}
	rec := <-recs
	if !rec.Hijacked() || !rec.Streamed() || rec.Complete() {
		t.Errorf("Hijacked %v Streamed %v Complete %v", rec.Hijacked(), rec.Streamed(), rec.Complete())
	}
}

// TestRecorderFlushBeforeStatus: a flush with no status yet sends 200 and
// records it, so a later WriteHeader cannot make the record disagree with
// what the client got.
func TestRecorderFlushBeforeStatus(t *testing.T) {
	w := httptest.NewRecorder()
	rec := recorder.New(w, -1)
	rw := rec.Writer()
	rw.(http.Flusher).Flush()
	rw.WriteHeader(http.StatusInternalServerError)
	if rec.Status() != 200 || w.Code != 200 {
		t.Errorf("recorded %d, client %d", rec.Status(), w.Code)
	}
}

func TestRecorderResponseControllerDeadline(t *testing.T) {
	// Deadlines are reached through Unwrap.
	h, recs := recording(-1, func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Errorf("SetWriteDeadline through Recorder: %v", err)
		}
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	<-recs
}
