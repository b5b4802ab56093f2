package statshttp

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"html"
	"net/http"
	"strconv"
	"strings"
)

var (
	//go:embed dashboard.html
	dashboardHTML string
	//go:embed dashboard.css
	dashboardCSS string
	//go:embed dashboard.js
	dashboardJS string
)

// buildDashboard renders the page once and returns it with a Content
// Security Policy that allows only its own inline script and style (by
// hash) and connections to its own origin.
func buildDashboard(cfg config) ([]byte, string) {
	page := strings.NewReplacer(
		"{{style}}", dashboardCSS,
		"{{script}}", dashboardJS,
		"{{statsURL}}", html.EscapeString(cfg.StatsPath),
		"{{refreshMs}}", strconv.FormatInt(cfg.RefreshInterval.Milliseconds(), 10),
	).Replace(dashboardHTML)
	hash := func(s string) string {
		h := sha256.Sum256([]byte(s))
		return "'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'"
	}
	csp := "default-src 'none'; script-src " + hash(dashboardJS) + "; style-src " + hash(dashboardCSS) +
		"; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	return []byte(page), csp
}

// DashboardHandler serves a self-contained HTML dashboard (no external
// resources, works offline) that shows hit rate per pattern, hits and
// misses over time, rate-limit and lock figures and the backend state of
// each instance. It follows the report at Options.StatsPath as a stream of
// server-sent events (see StatsHandler), so it updates as soon as the
// figures of any instance change; where the stream is unavailable (an
// error, or no report within max(3 s, 2*RefreshInterval), as behind a proxy
// that buffers responses) it polls the JSON report every
// Options.RefreshInterval instead and tries the stream again every 30 s.
//
// It is protected like the other handlers. Because a browser cannot send
// a bearer header when it opens a page, the dashboard (and only it) also
// accepts the token as ?token=; the page then moves the token to
// sessionStorage, removes it from the address bar and history, and sends
// it as a bearer header on the stream and the polls (it reads the stream
// with fetch rather than EventSource, which cannot send that header, so
// the token never appears in a stream URL). With cookie-based Options.Auth
// both carry the page's cookies. The response carries
// Referrer-Policy: no-referrer and Cache-Control: no-store, so the URL
// does not leak through Referer or caches, but it may still reach the
// application's access log: with cookie-based Options.Auth, set
// DisableQueryToken.
func (r *Recorder) DashboardHandler() http.Handler {
	return r.protect(http.HandlerFunc(r.serveDashboard), true)
}

func (r *Recorder) serveDashboard(w http.ResponseWriter, req *http.Request) {
	if !allowRead(w, req) {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", r.csp)
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Length", strconv.Itoa(len(r.page)))
	if req.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	_, _ = w.Write(r.page)
}
