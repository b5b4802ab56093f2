package main

import (
	"context"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-redsync/redsync/v4"
	"github.com/go-redsync/redsync/v4/redis/goredis/v9"
)

// go-redsync/redsync used by hand: a mutex on a key unique per request
// (uncontended), Lock then Unlock, one try. The acquire timeout is 2s
// (expiry 10s × factor 0.2) instead of redsync's 5% of the expiry, so that a
// loaded machine (-race tests, 50 connections on 2 cores) does not turn slow
// round trips into 409s; it does not change what a request costs.
func init() {
	register(contender{
		order: 40, name: "peer redsync", group: "peer", baseline: "raw lock SET NX + EVALSHA", minCmds: 2,
		setup: func(_ context.Context, e env) (http.Handler, func(), error) {
			rs := redsync.New(goredis.NewPool(e.client))
			var seq atomic.Int64
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				m := rs.NewMutex(e.prefix+strconv.FormatInt(seq.Add(1), 10), redsync.WithExpiry(10*time.Second), redsync.WithTimeoutFactor(0.2), redsync.WithTries(1))
				if err := m.LockContext(r.Context()); err != nil {
					http.Error(w, "lock: "+err.Error(), http.StatusConflict)
					return
				}
				if ok, err := m.UnlockContext(context.WithoutCancel(r.Context())); err != nil || !ok {
					http.Error(w, "unlock", http.StatusBadGateway)
					return
				}
				writeBody(w, e.body)
			})
			return h, noop, nil
		},
	})
}
