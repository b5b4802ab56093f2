package main

import (
	"context"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/bsm/redislock"
)

// bsm/redislock: Obtain then Release on a key unique per request
// (uncontended), no retry.
func init() {
	register(contender{
		order: 41, name: "peer bsm/redislock", group: "peer", baseline: "raw lock SET NX + EVALSHA", minCmds: 2,
		setup: func(_ context.Context, e env) (http.Handler, func(), error) {
			locker := redislock.New(e.client)
			var seq atomic.Int64
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				l, err := locker.Obtain(r.Context(), e.prefix+strconv.FormatInt(seq.Add(1), 10), 10*time.Second, nil)
				if err != nil {
					http.Error(w, "lock: "+err.Error(), http.StatusConflict)
					return
				}
				if err := l.Release(context.WithoutCancel(r.Context())); err != nil {
					http.Error(w, "unlock", http.StatusBadGateway)
					return
				}
				writeBody(w, e.body)
			})
			return h, noop, nil
		},
	})
}
