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
// (uncontended), Lock then Unlock, one try.
func init() {
	register(contender{
		order: 40, name: "peer redsync", group: "peer", baseline: "raw lock SET NX + EVALSHA",
		setup: func(_ context.Context, e env) (http.Handler, func(), error) {
			rs := redsync.New(goredis.NewPool(e.client))
			var seq atomic.Int64
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				m := rs.NewMutex(e.prefix+strconv.FormatInt(seq.Add(1), 10), redsync.WithExpiry(10*time.Second), redsync.WithTries(1))
				if err := m.LockContext(r.Context()); err != nil {
					http.Error(w, "lock", http.StatusConflict)
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
