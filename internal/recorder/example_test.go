package recorder_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/aura-platform/redishttp/internal/recorder"
	"github.com/aura-platform/redishttp/internal/stored"
)

// A Recorder passes the response through and keeps a copy, which can be
// stored and replayed later.
func Example() {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "made it")
	})
	client := httptest.NewRecorder()
	rec := recorder.New(client, 1<<20)
	rec.BeforeHeader(func(status int, h http.Header) { h.Set("X-Cache", "MISS") })
	handler.ServeHTTP(rec.Writer(), httptest.NewRequest("POST", "/things", nil))

	fmt.Println(rec.Status(), string(rec.Body()), rec.Complete())
	fmt.Println(client.Code, client.Body.String(), client.Header().Get("X-Cache"))

	resp := stored.Response{Status: rec.Status(), Header: rec.SentHeader(), Body: rec.Body()}
	decoded, err := stored.Decode(resp.Encode(nil))
	if err != nil {
		panic(err)
	}
	replay := httptest.NewRecorder()
	decoded.WriteTo(replay, httptest.NewRequest("POST", "/things", nil))
	fmt.Println(replay.Code, replay.Body.String(), replay.Header().Get("Content-Length"))
	// Output:
	// 201 made it true
	// 201 made it MISS
	// 201 made it 7
}
