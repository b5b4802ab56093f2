package statshttp_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/middleware"
	"github.com/aura-platform/redishttp/statshttp"
)

// serveFrom sends one GET to h from the TCP peer remote, with an optional
// bearer token and extra headers.
func serveFrom(h http.Handler, remote, token string, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "/admin", nil)
	req.RemoteAddr = remote
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// Failed authentication is limited per client on every protected handler
// (stats, metrics, dashboard and Protect share one count): past the limit
// the client gets 429 with Retry-After even with the right token, other
// clients are unaffected, and successful requests never count.
func TestAuthFailureLimit(t *testing.T) {
	rec := newRecorder(t, nil, statshttp.Options{AuthFailureLimit: 4, AuthFailureWindow: time.Minute})
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	handlers := []http.Handler{rec.StatsHandler(), rec.MetricsHandler(), rec.DashboardHandler(), rec.Protect(ok)}
	const attacker, admin, scraper = "203.0.113.9:5000", "198.51.100.7:6000", "192.0.2.44:7000"

	// The scraper succeeds many times: no count.
	for i := range 50 {
		if w := serveFrom(handlers[i%len(handlers)], scraper, testToken, nil); w.Code >= 400 {
			t.Fatalf("scraper request %d: %d", i, w.Code)
		}
	}
	// Four wrong guesses, one on each handler.
	for i, h := range handlers {
		if w := serveFrom(h, attacker, "guess-"+strconv.Itoa(i)+"-0123456789abcdef", nil); w.Code != 401 {
			t.Fatalf("guess %d: %d, want 401", i, w.Code)
		}
	}
	// Blocked everywhere, even with the right token.
	for i, h := range handlers {
		w := serveFrom(h, attacker, testToken, nil)
		if w.Code != http.StatusTooManyRequests {
			t.Fatalf("handler %d after the limit with the right token: %d, want 429", i, w.Code)
		}
		ra, err := strconv.Atoi(w.Header().Get("Retry-After"))
		if err != nil || ra < 1 || ra > 60 {
			t.Errorf("Retry-After %q, want 1..60 seconds", w.Header().Get("Retry-After"))
		}
		var p middleware.Problem
		if w.Header().Get("Content-Type") != "application/problem+json" || json.Unmarshal(w.Body.Bytes(), &p) != nil || p.Status != 429 {
			t.Errorf("429 body %q", w.Body)
		}
	}
	// Other clients keep working; the scraper's successes left it at zero,
	// so three failures do not block it.
	if w := serveFrom(handlers[0], admin, testToken, nil); w.Code != 200 {
		t.Errorf("another client with the token: %d", w.Code)
	}
	for range 3 {
		serveFrom(handlers[1], scraper, "wrong-token-0123456789abcdef", nil)
	}
	if w := serveFrom(handlers[1], scraper, testToken, nil); w.Code != 200 {
		t.Errorf("scraper after 50 successes and 3 failures: %d, want 200", w.Code)
	}
}

// Behind a trusted proxy, failures count against the client the proxy
// names, not the proxy: one client's guesses do not lock out another, and a
// client cannot escape its count by writing its own X-Forwarded-For.
func TestAuthFailureLimitClientIP(t *testing.T) {
	ips, err := middleware.NewClientIP("10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(t, nil, statshttp.Options{AuthFailureLimit: 2, ClientIP: ips})
	h := rec.StatsHandler()
	const proxy = "10.1.2.3:443"
	for i := range 2 {
		serveFrom(h, proxy, "wrong-token-0123456789abcdef", map[string]string{"X-Forwarded-For": "1.1.1." + strconv.Itoa(i) + ", 203.0.113.9"})
	}
	if w := serveFrom(h, proxy, testToken, map[string]string{"X-Forwarded-For": "9.9.9.9, 203.0.113.9"}); w.Code != 429 {
		t.Errorf("attacker behind the proxy with a spoofed leftmost hop: %d, want 429", w.Code)
	}
	if w := serveFrom(h, proxy, testToken, map[string]string{"X-Forwarded-For": "198.51.100.7"}); w.Code != 200 {
		t.Errorf("another client behind the same proxy: %d, want 200", w.Code)
	}
}

// An Auth middleware's 401 and 403 answers count as failures; what it lets
// through does not.
func TestAuthFailureLimitAppAuth(t *testing.T) {
	session := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Cookie") != "session=admin" {
				middleware.Error(w, r, http.StatusForbidden, "sign in first")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	rec := newRecorder(t, nil, statshttp.Options{Auth: session, AuthFailureLimit: 2})
	h := rec.StatsHandler()
	const remote = "203.0.113.1:1"
	for range 5 {
		if w := serveFrom(h, remote, "", map[string]string{"Cookie": "session=admin"}); w.Code != 200 {
			t.Fatalf("signed in: %d", w.Code)
		}
	}
	for range 2 {
		if w := serveFrom(h, remote, "", map[string]string{"Cookie": "session=guess"}); w.Code != 403 {
			t.Fatalf("wrong session: %d", w.Code)
		}
	}
	if w := serveFrom(h, remote, "", map[string]string{"Cookie": "session=admin"}); w.Code != 429 {
		t.Errorf("after two 403s: %d, want 429", w.Code)
	}
}

// Failures from ever new addresses never lock out a client that has not
// failed: 10,010 wrong guesses from distinct IPv6 /64s (one /48 holds 65,536
// of them) leave the admin's right token working, while an address over its
// own limit is still refused even with the right token.
func TestAuthFailureFloodKeepsAdmin(t *testing.T) {
	rec := newRecorder(t, nil, statshttp.Options{})
	h := rec.StatsHandler()
	for i := range 10_010 {
		remote := fmt.Sprintf("[2001:db8:1:%x::1]:4000", i)
		if w := serveFrom(h, remote, "wrong-token-0123456789abcdef", nil); w.Code != 401 {
			t.Fatalf("guess %d from a fresh address: %d, want 401", i, w.Code)
		}
	}
	if w := serveFrom(h, "198.51.100.7:6000", testToken, nil); w.Code != 200 {
		t.Fatalf("admin with the right token after the flood: %d, want 200", w.Code)
	}
	const attacker = "203.0.113.9:5000"
	for i := range 10 {
		if w := serveFrom(h, attacker, "wrong-token-0123456789abcdef", nil); w.Code != 401 {
			t.Fatalf("attacker guess %d: %d, want 401", i, w.Code)
		}
	}
	if w := serveFrom(h, attacker, testToken, nil); w.Code != 429 {
		t.Errorf("attacker over its limit with the right token: %d, want 429", w.Code)
	}
	if w := serveFrom(h, "198.51.100.7:6000", testToken, nil); w.Code != 200 {
		t.Errorf("admin with the right token after the attacker's block: %d, want 200", w.Code)
	}
}

// Where one key stands for many clients (no address known, or a reverse
// proxy that ClientIP does not trust), failures are throttled (429 instead
// of 401 past the limit) but valid credentials always pass, so other
// clients' guesses cannot lock the admin out.
func TestAuthFailureSharedKey(t *testing.T) {
	session := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Cookie") != "session=admin" {
				w.Header().Set("X-App", "refused")
				middleware.Error(w, r, http.StatusForbidden, "sign in first")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	cases := []struct {
		name, remote string
		hdr          map[string]string
	}{
		{"unparsable RemoteAddr", "garbage", nil},
		{"Unix socket", "@", nil},
		{"untrusted proxy on loopback", "127.0.0.1:443", map[string]string{"X-Forwarded-For": "203.0.113.9"}},
		{"untrusted proxy on a private address", "10.1.2.3:443", map[string]string{"Forwarded": "for=203.0.113.9"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, app := range []bool{false, true} {
				opts := statshttp.Options{AuthFailureLimit: 3}
				bad, good := map[string]string{}, map[string]string{}
				for k, v := range c.hdr {
					bad[k], good[k] = v, v
				}
				badTok, goodTok := "wrong-token-0123456789abcdef", testToken
				wantFail := 401
				if app {
					opts.Auth = session
					bad["Cookie"], good["Cookie"] = "session=guess", "session=admin"
					badTok, goodTok = "", ""
					wantFail = 403
				}
				h := newRecorder(t, nil, opts).StatsHandler()
				for i := range 3 {
					if w := serveFrom(h, c.remote, badTok, bad); w.Code != wantFail {
						t.Fatalf("app %v: failure %d: %d, want %d", app, i, w.Code, wantFail)
					}
				}
				for i := range 3 {
					w := serveFrom(h, c.remote, badTok, bad)
					if w.Code != 429 || w.Header().Get("Retry-After") == "" || w.Header().Get("X-App") != "" {
						t.Fatalf("app %v: failure %d past the limit: %d %v, want a clean 429 with Retry-After", app, i, w.Code, w.Header())
					}
				}
				if w := serveFrom(h, c.remote, goodTok, good); w.Code != 200 {
					t.Errorf("app %v: valid credentials on the shared key: %d, want 200", app, w.Code)
				}
			}
		})
	}
	// A private address that sends no forwarding headers is one client and
	// is blocked like any other.
	h := newRecorder(t, nil, statshttp.Options{AuthFailureLimit: 3}).StatsHandler()
	for range 3 {
		serveFrom(h, "10.1.2.3:443", "wrong-token-0123456789abcdef", nil)
	}
	if w := serveFrom(h, "10.1.2.3:443", testToken, nil); w.Code != 429 {
		t.Errorf("a private client over its limit with the right token: %d, want 429", w.Code)
	}
}
