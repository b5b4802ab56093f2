package cachehttp

import "testing"

func TestCacheHandler(t *testing.T) {
	c := newTestCache(t, nil, "h:", Options{})
	h := textHandler("d")
	srv := c.Handler(h)
	expect(t, do(srv, "GET", "/x"), 200, "MISS", "d")
	expect(t, do(srv, "GET", "/x"), 200, "HIT", "d")
	if h.n.Load() != 1 {
		t.Fatalf("handler ran %d times", h.n.Load())
	}
}
