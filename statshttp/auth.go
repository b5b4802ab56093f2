package statshttp

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/aura-platform/redishttp/internal/keytext"
	"github.com/aura-platform/redishttp/internal/recorder"
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
// sends until its window ends. A key that many clients share (see
// sharedClientKey) is only ever throttled on failures: valid credentials
// always pass there, so other clients' guesses cannot lock anyone out.
func (r *Recorder) protect(h http.Handler, allowQuery bool) http.Handler {
	allowQuery = allowQuery && !r.cfg.DisableQueryToken
	var auth http.Handler
	if r.cfg.Auth != nil {
		auth = r.cfg.Auth(h)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		client := r.cfg.ClientIP.Key(req)
		shared := sharedClientKey(req, client)
		wait, blocked := r.authFails.blocked(client)
		if blocked && !shared {
			tooManyFailures(w, req, wait)
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
			if blocked {
				tooManyFailures(w, req, wait)
				return
			}
			r.authFails.fail(client)
			unauthorized(w, req)
			return
		}
		if blocked {
			// A shared key over its limit: Auth still decides, and only its
			// refusal is turned into 429.
			auth.ServeHTTP(&denyWriter{ResponseWriter: w, deny: func() { tooManyFailures(w, req, wait) }}, req)
			return
		}
		rec := recorder.New(w, 0)
		auth.ServeHTTP(rec.Writer(), req)
		if st := rec.Status(); st == http.StatusUnauthorized || st == http.StatusForbidden {
			r.authFails.fail(client)
		}
	})
}

// sharedClientKey reports whether key, the address failures are counted by,
// evidently stands for many clients, so blocking it would lock out every
// one of them: no address is known ("unknown", as on a Unix socket), or the
// address is the TCP peer itself, a loopback or private address that sends
// forwarding headers: a reverse proxy that Options.ClientIP does not trust.
func sharedClientKey(req *http.Request, key string) bool {
	if key == "unknown" {
		return true
	}
	if req.Header.Get("X-Forwarded-For") == "" && req.Header.Get("Forwarded") == "" && req.Header.Get("X-Real-Ip") == "" {
		return false
	}
	peer := peerAddr(req.RemoteAddr)
	return peer.IsValid() && (peer.IsLoopback() || peer.IsPrivate()) && keytext.Addr(peer) == key
}

// peerAddr parses a RemoteAddr ("ip:port", "[ipv6]:port" or a bare ip).
func peerAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().WithZone("").Unmap()
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.WithZone("").Unmap()
	}
	return netip.Addr{}
}

// tooManyFailures answers 429 with Retry-After and a problem body.
func tooManyFailures(w http.ResponseWriter, req *http.Request, wait time.Duration) {
	middleware.WriteProblem(w, middleware.Problem{
		Status:     http.StatusTooManyRequests,
		Detail:     "too many failed authentication attempts from this address",
		Instance:   req.URL.Path,
		RetryAfter: wait.Seconds(),
	})
}

// denyWriter passes a response through unless it starts with 401 or 403,
// which it replaces with deny's answer (the rest of that response is
// dropped).
type denyWriter struct {
	http.ResponseWriter
	deny    func()
	started bool
	denied  bool
}

func (d *denyWriter) WriteHeader(code int) {
	if d.started {
		return
	}
	if code >= 100 && code < 200 {
		d.ResponseWriter.WriteHeader(code)
		return
	}
	d.started = true
	if code == http.StatusUnauthorized || code == http.StatusForbidden {
		d.denied = true
		h := d.ResponseWriter.Header()
		for k := range h {
			delete(h, k)
		}
		d.deny()
		return
	}
	d.ResponseWriter.WriteHeader(code)
}

func (d *denyWriter) Write(p []byte) (int, error) {
	if !d.started {
		d.WriteHeader(http.StatusOK)
	}
	if d.denied {
		return len(p), nil
	}
	return d.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the underlying writer (Flush,
// Hijack, deadlines).
func (d *denyWriter) Unwrap() http.ResponseWriter { return d.ResponseWriter }

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
