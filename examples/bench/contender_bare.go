package main

import (
	"context"
	"net/http"
)

// bare writes the body with no Redis at all: the ceiling.
func init() {
	register(contender{
		order: 0, name: "bare", group: "ceiling",
		setup: func(_ context.Context, e env) (http.Handler, func(), error) {
			return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeBody(w, e.body) }), noop, nil
		},
	})
}
