package statshttp_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aura-platform/redishttp/middleware"
	"github.com/aura-platform/redishttp/statshttp"
)

// Every handler refuses requests without valid credentials with 401, a
// Bearer challenge and a problem body; the dashboard alone takes ?token=.
func TestHandlersRequireAuth(t *testing.T) {
	// Every case comes from one test address: lift the failure limit, which
	// TestAuthFailureLimit covers.
	rec := newRecorder(t, nil, statshttp.Options{AuthFailureLimit: 1000})
	quiet := newRecorder(t, nil, statshttp.Options{DisableQueryToken: true, AuthFailureLimit: 1000})
	handlers := map[string]func(*statshttp.Recorder) http.Handler{
		"stats":     (*statshttp.Recorder).StatsHandler,
		"metrics":   (*statshttp.Recorder).MetricsHandler,
		"dashboard": (*statshttp.Recorder).DashboardHandler,
	}
	for name, mk := range handlers {
		t.Run(name, func(t *testing.T) {
			for _, tc := range []struct {
				desc, target, header string
				rec                  *statshttp.Recorder
				want                 int
				challengeErr         bool
			}{
				{"no credentials", "/x", "", rec, 401, false},
				{"wrong token", "/x", "Bearer " + testToken + "x", rec, 401, true},
				{"token prefix", "/x", "Bearer " + testToken[:20], rec, 401, true},
				{"basic scheme", "/x", "Basic " + testToken, rec, 401, false},
				{"right token", "/x", "Bearer " + testToken, rec, 200, false},
				{"scheme is case-insensitive", "/x", "bearer " + testToken, rec, 200, false},
				{"query token", "/x?token=" + testToken, "", rec, map[bool]int{true: 200, false: 401}[name == "dashboard"], false},
				{"wrong query token", "/x?token=nope" + testToken, "", rec, 401, false},
				{"query token disabled", "/x?token=" + testToken, "", quiet, 401, false},
			} {
				t.Run(tc.desc, func(t *testing.T) {
					req := httptest.NewRequest(http.MethodGet, tc.target, nil)
					if tc.header != "" {
						req.Header.Set("Authorization", tc.header)
					}
					w := httptest.NewRecorder()
					mk(tc.rec).ServeHTTP(w, req)
					if w.Code != tc.want {
						t.Fatalf("status %d, want %d", w.Code, tc.want)
					}
					if tc.want != 401 {
						return
					}
					ch := w.Header().Get("WWW-Authenticate")
					if !strings.HasPrefix(ch, `Bearer realm="redishttp-stats"`) || strings.Contains(ch, "invalid_token") != tc.challengeErr {
						t.Errorf("WWW-Authenticate %q", ch)
					}
					if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
						t.Errorf("Content-Type %q", ct)
					}
					var p middleware.Problem
					if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Status != 401 {
						t.Errorf("problem body %q: %v", w.Body, err)
					}
					if strings.Contains(w.Body.String(), testToken) || strings.Contains(w.Body.String(), "hitRate") {
						t.Errorf("401 body leaks: %q", w.Body)
					}
				})
			}
		})
	}
}

// An application's own auth middleware can protect the handlers, alone or
// as an alternative to the token.
func TestAppAuthMiddleware(t *testing.T) {
	session := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c, err := r.Cookie("session"); err != nil || c.Value != "admin" {
				middleware.Error(w, r, http.StatusForbidden, "sign in first")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	for _, tc := range []struct {
		name   string
		opts   statshttp.Options
		cookie string
		bearer string
		want   int
	}{
		{"auth only, signed in", statshttp.Options{Auth: session}, "admin", "", 200},
		{"auth only, anonymous", statshttp.Options{Auth: session}, "", "", 403},
		{"auth only, any bearer ignored", statshttp.Options{Auth: session}, "", testToken, 403},
		{"both, token", statshttp.Options{Auth: session, Token: testToken}, "", testToken, 200},
		{"both, cookie", statshttp.Options{Auth: session, Token: testToken}, "admin", "", 200},
		{"both, neither", statshttp.Options{Auth: session, Token: testToken}, "guest", "", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := statshttp.New(nil, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer rec.Close()
			req := httptest.NewRequest(http.MethodGet, "/api/cache/stats", nil)
			if tc.cookie != "" {
				req.AddCookie(&http.Cookie{Name: "session", Value: tc.cookie})
			}
			if tc.bearer != "" {
				req.Header.Set("Authorization", "Bearer "+tc.bearer)
			}
			w := httptest.NewRecorder()
			rec.StatsHandler().ServeHTTP(w, req)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d", w.Code, tc.want)
			}
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	rec := newRecorder(t, nil, statshttp.Options{})
	for _, h := range []http.Handler{rec.StatsHandler(), rec.DashboardHandler()} {
		req := httptest.NewRequest(http.MethodPost, "/x", nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("POST: %d Allow %q", w.Code, w.Header().Get("Allow"))
		}
	}
}

// The dashboard is one self-contained page: no external resource, a strict
// CSP that matches its inline script and style, no referrer.
func TestDashboardPage(t *testing.T) {
	rec := newRecorder(t, nil, statshttp.Options{StatsPath: `/stats?"x"`})
	res := get(rec.DashboardHandler(), "/dashboard", testToken)
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := res.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	page := sb.String()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("status %d type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	// The SVG namespace is an identifier, not a resource.
	fetchable := strings.ReplaceAll(page, "'http://www.w3.org/2000/svg'", "")
	for _, bad := range []string{"http://", "https://", "src=", "href=", "url(", "@import", "<link", "{{"} {
		if strings.Contains(fetchable, bad) {
			t.Errorf("page contains %q: not self-contained", bad)
		}
	}
	if !strings.Contains(page, `data-stats-url="/stats?&#34;x&#34;"`) {
		t.Errorf("stats URL not escaped into the page")
	}
	csp := res.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'sha256-", "style-src 'sha256-", "connect-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if res.Header.Get("Referrer-Policy") != "no-referrer" || res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", res.Header)
	}
}
