package recorder_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aura-platform/redishttp/internal/recorder"
)

// discardWriter is a minimal ResponseWriter, so the benchmarks measure the
// wrappers and not httptest's bookkeeping.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Flush()                      {}

var body1k = make([]byte, 1024)

func serve1k(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(body1k)
}

// BenchmarkRecorder compares a bare 1 KiB handler with the same handler
// behind a Recorder (capturing the body) in one run: read the ratio.
func BenchmarkRecorder(b *testing.B) {
	r := httptest.NewRequest("GET", "/", nil)
	b.Run("bare", func(b *testing.B) {
		b.ReportAllocs()
		w := &discardWriter{h: http.Header{}}
		for b.Loop() {
			serve1k(w, r)
		}
	})
	b.Run("recorder", func(b *testing.B) {
		b.ReportAllocs()
		w := &discardWriter{h: http.Header{}}
		for b.Loop() {
			rec := recorder.New(w, 1<<20)
			serve1k(rec.Writer(), r)
		}
	})
}
