// Package ginhttp runs standard net/http middleware (func(http.Handler)
// http.Handler, the shape of every redishttp middleware) inside gin.
//
//	api := r.Group("/api", ginhttp.Wrap(limits.Handler))
//	api.GET("/items/:id", ginhttp.Wrap(items.Handler), getItem)
//	api.POST("/orders", ginhttp.Wrap(locks.Handler), createOrder)
//
// Wrap continues the gin chain (c.Next) only when the middleware calls its
// next handler; a middleware that answers by itself (a 429 from the rate
// limiter, a 409 from the lock, a cache hit) aborts the chain, and what it
// wrote is what the client gets.
package ginhttp

import (
	"bufio"
	"net"
	"net/http"

	"github.com/gin-gonic/gin"
)

// Wrap returns a gin handler that runs mw around the rest of the gin chain.
//
// When mw calls its next handler, the rest of the chain runs with
// c.Request set to the request mw passed on (its context carries what mw
// added: the lock's fencing token, a cache fill's request without
// identity headers) and with c.Writer writing through the ResponseWriter mw
// passed on (so the cache and the lock see the response). Both are restored
// when mw returns. When mw does not call it, the chain is aborted
// (c.Abort) and the later handlers do not run.
//
// A handler that writes nothing and sets no status leaves the response
// unwritten for mw (the cache stores nothing) and for gin, which sends its
// default 200 afterwards, or lets an error middleware outside Wrap write.
// Handlers behind Wrap must finish their work before they return: a
// middleware that runs its next handler again after the request (a cache
// route with StaleWhileRevalidate or RefreshAhead, RouteCache.Warm) would
// reuse a gin.Context that gin has recycled, so mount such routes with
// gin.WrapH(route.Handler(h)) instead.
func Wrap(mw func(http.Handler) http.Handler) gin.HandlerFunc {
	return func(c *gin.Context) {
		reached := false
		origReq, origWriter := c.Request, c.Writer
		h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reached = true
			rw := &responseWriter{ResponseWriter: w, outer: origWriter, size: -1, status: http.StatusOK}
			c.Request, c.Writer = r, rw
			c.Next()
			if rw.statusSet {
				rw.WriteHeaderNow()
			}
		}))
		h.ServeHTTP(origWriter, origReq)
		c.Request, c.Writer = origReq, origWriter
		if !reached {
			c.Abort()
		}
	}
}

// responseWriter is a gin.ResponseWriter over the ResponseWriter a
// middleware passed on. Like gin's own, it holds the status back until the
// first byte (or WriteHeaderNow), so handlers may still set headers after
// c.Status.
type responseWriter struct {
	http.ResponseWriter
	outer     gin.ResponseWriter
	size      int
	status    int
	statusSet bool
}

var _ gin.ResponseWriter = (*responseWriter)(nil)

// Unwrap returns the middleware's writer, for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *responseWriter) WriteHeader(code int) {
	if code > 0 && !w.Written() {
		w.status, w.statusSet = code, true
	}
}

func (w *responseWriter) WriteHeaderNow() {
	if !w.Written() {
		w.size = 0
		w.ResponseWriter.WriteHeader(w.status)
	}
}

func (w *responseWriter) Write(b []byte) (int, error) {
	w.WriteHeaderNow()
	n, err := w.ResponseWriter.Write(b)
	w.size += n
	return n, err
}

func (w *responseWriter) WriteString(s string) (int, error) { return w.Write([]byte(s)) }

func (w *responseWriter) Status() int { return w.status }

func (w *responseWriter) Size() int { return w.size }

func (w *responseWriter) Written() bool { return w.size != -1 }

func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.size < 0 {
		w.size = 0
	}
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

func (w *responseWriter) Flush() {
	w.WriteHeaderNow()
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// CloseNotify is gin's; it reports the client connection's end.
func (w *responseWriter) CloseNotify() <-chan bool { return w.outer.CloseNotify() }

func (w *responseWriter) Pusher() http.Pusher { return w.outer.Pusher() }
