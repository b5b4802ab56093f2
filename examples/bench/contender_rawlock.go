package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// unlockScript deletes the lock only if it still holds our token.
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// rawLock takes a lock with SET NX PX and a random token, then releases it
// with a compare-and-delete script, on a key unique per request.
func rawLock(ctx context.Context, e env, pipelined bool) (http.Handler, func(), error) {
	c, err := rawTarget(e, pipelined)
	if err != nil {
		return nil, nil, err
	}
	if err := unlockScript.Load(ctx, e.client).Err(); err != nil {
		return nil, nil, err
	}
	var seq atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := e.prefix + strconv.FormatInt(seq.Add(1), 10)
		var tok [16]byte
		_, _ = rand.Read(tok[:])
		token := hex.EncodeToString(tok[:])
		ok, err := c.SetNX(r.Context(), key, token, 10*time.Second).Result()
		if err != nil || !ok {
			http.Error(w, "lock", http.StatusConflict)
			return
		}
		// The response is buffered by net/http and reaches the client
		// when the handler returns, so unlocking before writing costs
		// the same time and lets an unlock failure become a 502.
		if err := unlockScript.Run(context.WithoutCancel(r.Context()), c, []string{key}, token).Err(); err != nil {
			http.Error(w, "unlock", http.StatusBadGateway)
			return
		}
		writeBody(w, e.body)
	})
	return h, noop, nil
}

// raw lock: SET NX PX with a random token, then a compare-and-delete
// EVALSHA: the two round trips any correct uncontended lock needs; the
// same-work baseline of the lock contenders. Keys are unique per request,
// so locks are uncontended. The pipelined twin sends both commands through
// the client's auto-pipeliner: the baseline of the pipelined lock.
func init() {
	register(contender{
		order: 12, name: "raw lock SET NX + EVALSHA", group: "raw", minCmds: 2,
		setup: func(ctx context.Context, e env) (http.Handler, func(), error) { return rawLock(ctx, e, false) },
	})
	register(contender{
		order: 17, name: "raw lock SET NX + EVALSHA (pipelined)", group: "raw", minCmds: 2,
		setup: func(ctx context.Context, e env) (http.Handler, func(), error) { return rawLock(ctx, e, true) },
	})
}
