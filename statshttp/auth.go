package statshttp

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/aura-platform/redishttp/middleware"
)

// realm is sent in WWW-Authenticate challenges.
const realm = "redishttp-stats"

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const scheme = "bearer "
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false
	}
	return strings.TrimSpace(h[len(scheme):]), true
}

// tokenOK compares got with the configured token in constant time (both
// hashed first, so not even the length leaks).
func (r *Recorder) tokenOK(got string) bool { return tokenEqual(got, r.cfg.Token) }

func tokenEqual(got, want string) bool {
	if want == "" || got == "" {
		return false
	}
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// Protect wraps h with the Recorder's authentication (the bearer token, else
// Options.Auth), so an application's own admin routes (a cache invalidation
// endpoint, say) take the same credentials as the stats handlers, and share
// their count of failed attempts per client (Options.AuthFailureLimit).
func (r *Recorder) Protect(h http.Handler) http.Handler { return r.protect(h, false) }

// BearerAuth returns a middleware that serves requests carrying
// "Authorization: Bearer <token>" (compared in constant time) and answers
// any other request 401 with a Bearer challenge and a problem body. It
// enforces no minimum length: pass it as Options.Auth only where a short
// token must be accepted (a legacy secret); Options.Token is the safer
// default. Its 401 answers count towards Options.AuthFailureLimit like any
// other failed authentication.
func BearerAuth(token string) middleware.Middleware {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if tok, ok := bearer(req); ok && tokenEqual(tok, token) {
				h.ServeHTTP(w, req)
				return
			}
			unauthorized(w, req)
		})
	}
}

// protect wraps h with the configured authentication: a valid bearer token
// (or, when allowQuery, a valid ?token= parameter) is served; anything else
// goes through Options.Auth when set, or gets 401. Failures are counted per
// client, and a client past Options.AuthFailureLimit gets 429 whatever it
// sends until its window ends.
func (r *Recorder) protect(h http.Handler, allowQuery bool) http.Handler {
	allowQuery = allowQuery && !r.cfg.DisableQueryToken
	var auth http.Handler
	if r.cfg.Auth != nil {
		auth = r.cfg.Auth(h)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		client := r.cfg.ClientIP.Key(req)
		if wait, blocked := r.authFails.blocked(client); blocked {
			middleware.WriteProblem(w, middleware.Problem{
				Status:     http.StatusTooManyRequests,
				Detail:     "too many failed authentication attempts from this address",
				Instance:   req.URL.Path,
				RetryAfter: wait.Seconds(),
			})
			return
		}
		if r.cfg.Token != "" {
			if tok, ok := bearer(req); ok && r.tokenOK(tok) {
				h.ServeHTTP(w, req)
				return
			}
			if allowQuery && r.tokenOK(req.URL.Query().Get("token")) {
				h.ServeHTTP(w, req)
				return
			}
		}
		if auth == nil {
			r.authFails.fail(client)
			unauthorized(w, req)
			return
		}
		rec := middleware.NewRecorder(w, 0)
		auth.ServeHTTP(rec.Writer(), req)
		if st := rec.Status(); st == http.StatusUnauthorized || st == http.StatusForbidden {
			r.authFails.fail(client)
		}
	})
}

// unauthorized answers 401 with a Bearer challenge and a problem body.
func unauthorized(w http.ResponseWriter, req *http.Request) {
	challenge := `Bearer realm="` + realm + `"`
	if _, ok := bearer(req); ok {
		challenge += `, error="invalid_token"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	middleware.WriteProblem(w, middleware.Problem{
		Status:   http.StatusUnauthorized,
		Detail:   "a valid bearer token is required",
		Instance: req.URL.Path,
	})
}
