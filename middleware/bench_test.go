package middleware_test

import (
	"net/http/httptest"
	"testing"

	"github.com/aura-platform/redishttp/middleware"
)

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
