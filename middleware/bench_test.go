package middleware_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aura-platform/redishttp/middleware"
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
			rec := middleware.NewRecorder(w, 1<<20)
			serve1k(rec.Writer(), r)
		}
	})
}

func BenchmarkKeyFuncs(b *testing.B) {
	ips, _ := middleware.NewClientIP("10.0.0.0/8")
	r := httptest.NewRequest("GET", "/items?b=2&a=1", nil)
	r.RemoteAddr = "10.0.0.1:1234"
	r.Header.Set("X-Forwarded-For", "203.0.113.9, 10.0.0.2")
	r = r.WithContext(middleware.WithUser(r.Context(), "alice@example.com"))
	for name, fn := range map[string]middleware.KeyFunc{
		"UserOrIP": middleware.UserOr(middleware.ByClientIP(ips)),
		"ClientIP": middleware.ByClientIP(ips),
		"Query":    middleware.ByQuery(),
		"Join":     middleware.Join(middleware.ByRoute(), middleware.ByUser()),
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := fn(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("KeyPart/escape", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = middleware.KeyPart("GET /items/{id}:x")
		}
	})
}
