package lockhttp

import (
	"net/http"
	"net/url"
	"path"

	"github.com/aura-platform/redishttp/middleware"
)

// ByPath keys a request by the path it was sent to ("p:<path>", escaped
// with middleware.KeyPart): the path of the request line as the client sent
// it (r.RequestURI), percent-decoded and cleaned (path.Clean: no "//", "."
// or "..", no trailing slash), without the query, and whatever the method.
// It is the default Options.Key: one lock per resource path, so a PUT and a
// DELETE of /api/users/1 contend while /api/users/2 runs alongside.
//
// It does not depend on the router: http.ServeMux, chi (in r.Route groups
// and mounted sub-routers too), gorilla/mux, gin and echo all see the same
// key for the same request, and so does a handler behind
// http.StripPrefix, which rewrites r.URL.Path but not r.RequestURI. A
// request built in a client (no RequestURI) is keyed by r.URL.Path.
func ByPath() middleware.KeyFunc {
	return func(r *http.Request) (string, error) {
		return "p:" + middleware.KeyPart(requestPath(r)), nil
	}
}

// requestPath returns the cleaned path of r's request line.
func requestPath(r *http.Request) string {
	p := ""
	if r.RequestURI != "" {
		if u, err := url.ParseRequestURI(r.RequestURI); err == nil {
			p = u.Path
		}
	}
	if p == "" && r.URL != nil {
		p = r.URL.Path
	}
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	return path.Clean(p)
}
