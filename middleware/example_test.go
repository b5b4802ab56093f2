package middleware_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	rmw "github.com/aura-platform/redishttp/middleware"
)

// Imported as rmw, this package sits next to chi's own middleware package
// without a clash.
func Example_chi() {
	r := chi.NewRouter()
	r.Use(middleware.RequestID)             // chi's
	r.Use(rmw.TrustUserHeader("X-User-ID")) // ours
	r.Get("/items/{id}", func(w http.ResponseWriter, r *http.Request) {
		key, _ := rmw.UserOr(rmw.ByClientIP(nil))(r)
		fmt.Fprintf(w, "user %s, key %s, request id set: %t",
			rmw.UserFromContext(r.Context()), key, middleware.GetReqID(r.Context()) != "")
	})

	req := httptest.NewRequest("GET", "/items/7", nil)
	req.Header.Set("X-User-ID", "alice")
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	fmt.Println(w.Body.String())
	// Output: user alice, key u:alice, request id set: true
}

// Chain composes middlewares, first outermost, and mounts on http.ServeMux
// like any handler. Nil entries are skipped.
func ExampleChain() {
	logger := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Println("log:", r.Method, r.URL.Path)
			next.ServeHTTP(w, r)
		})
	}
	var optional rmw.Middleware // not configured: skipped
	stack := rmw.Chain(rmw.TrustUserHeader("X-User"), logger, optional)

	mux := http.NewServeMux()
	mux.Handle("GET /hello", stack(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, _ := rmw.Join(rmw.ByUser(), rmw.ByRoute())(r)
		fmt.Fprintf(w, "hello %s (key %s)", rmw.UserFromContext(r.Context()), key)
	})))

	r := httptest.NewRequest("GET", "/hello", nil)
	r.Header.Set("X-User", "alice")
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	fmt.Println(w.Body.String())
	// Output:
	// log: GET /hello
	// hello alice (key u:alice:r:GET%20/hello)
}

// KeyPart escapes untrusted text so it can be one part of a Redis key:
// separators, glob characters, hash tags and control characters are
// percent-encoded, and long input is hashed.
func ExampleKeyPart() {
	fmt.Println(rmw.KeyPart("alice"))
	fmt.Println(rmw.KeyPart("a:b*{c}\r\n"))
	fmt.Println(len(rmw.KeyPart(string(make([]byte, 1000)))))
	// Output:
	// alice
	// a%3Ab%2A%7Bc%7D%0D%0A
	// 42
}

// ClientIP walks X-Forwarded-For from the right past trusted proxies only.
func ExampleClientIP() {
	ips, err := rmw.NewClientIP("10.0.0.0/8")
	if err != nil {
		panic(err)
	}
	// Through our load balancer: the hop it appended is believed, the
	// client's own claim on the left is not.
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.7:51000"
	r.Header.Set("X-Forwarded-For", "1.1.1.1, 203.0.113.9")
	fmt.Println(ips.Addr(r))

	// Straight from the internet: X-Forwarded-For is ignored.
	r.RemoteAddr = "198.51.100.4:40000"
	fmt.Println(ips.Addr(r))

	// IPv6 clients are keyed by /64.
	r.RemoteAddr = "[2001:db8:1:2:a:b:c:d]:443"
	fmt.Println(ips.Key(r))

	_, err = rmw.NewClientIP("10.0.0.0/33")
	fmt.Println(err)
	// Output:
	// 203.0.113.9
	// 198.51.100.4
	// 2001:db8:1:2::/64
	// middleware: invalid trusted proxy: "10.0.0.0/33"
}

// WriteProblem sends RFC 9457 problem JSON; Retry-After is rounded up.
func ExampleWriteProblem() {
	w := httptest.NewRecorder()
	rmw.WriteProblem(w, rmw.Problem{Status: http.StatusTooManyRequests, Detail: "rate limit exceeded", RetryAfter: 1.5})
	fmt.Println(w.Code, w.Header().Get("Content-Type"), w.Header().Get("Retry-After"))
	fmt.Print(w.Body.String())
	// Output:
	// 429 application/problem+json 2
	// {"title":"Too Many Requests","status":429,"detail":"rate limit exceeded","retryAfter":1.5}
}

// UserOr(ByClientIP(...)) keys signed-in users by id and everyone else by
// address: the usual rate-limit key.
func ExampleUserOr() {
	key := rmw.UserOr(rmw.ByClientIP(nil))
	anon := httptest.NewRequest("GET", "/", nil)
	k1, _ := key(anon)
	k2, _ := key(anon.WithContext(rmw.WithUser(anon.Context(), "bob")))
	fmt.Println(k1)
	fmt.Println(k2)
	// Output:
	// ip:192.0.2.1
	// u:bob
}
