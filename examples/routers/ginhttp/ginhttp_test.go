package ginhttp_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aura-platform/redishttp/examples/routers/ginhttp"
	"github.com/gin-gonic/gin"
)

func TestWrap(t *testing.T) {
	gin.SetMode(gin.TestMode)
	var ranAfter bool
	passOn := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Outer", "1")
			next.ServeHTTP(w, r)
		})
	}
	refuse := func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "3")
			http.Error(w, "slow down", http.StatusTooManyRequests)
		})
	}
	r := gin.New()
	r.GET("/pass", ginhttp.Wrap(passOn), func(c *gin.Context) {
		c.Status(http.StatusAccepted)
		c.Header("X-Late", "set after the status") // gin holds the status back
		if err := http.NewResponseController(c.Writer).Flush(); err != nil {
			t.Errorf("Flush through Wrap: %v", err)
		}
	})
	r.GET("/refuse", ginhttp.Wrap(refuse), func(c *gin.Context) { ranAfter = true })

	srv := httptest.NewServer(r)
	defer srv.Close()

	res, err := http.Get(srv.URL + "/pass")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted || res.Header.Get("X-Outer") != "1" || res.Header.Get("X-Late") == "" {
		t.Fatalf("pass: %d %v", res.StatusCode, res.Header)
	}

	res, err = http.Get(srv.URL + "/refuse")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "3" || ranAfter {
		t.Fatalf("refuse: %d %v, handler ran: %v", res.StatusCode, res.Header, ranAfter)
	}
}
