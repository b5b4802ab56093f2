package ratelimithttp

import (
	"fmt"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
)

// The replay fault: Redis runs the rate-limit script, its reply is lost
// with the connection, and go-redis sends the script again (a plain client
// resends the command, the auto-pipeliner the whole batch).

// withAutoPipeline runs fn with Options.AutoPipeline off, then on in a
// subtest named "autopipeline" (redistest.WithAutoPipeline).
var withAutoPipeline = redistest.WithAutoPipeline

// TestReplayCountsTwice documents the accepted outcome of a replayed
// rate-limit script: the request is counted twice (Used goes up by 2 for
// one request), and the answer is the second run's. It errs on the strict
// side only: a request that the first run admitted on the last unit is
// refused by the second run (which, refusing, counts nothing more), never
// the other way round.
func TestReplayCountsTwice(t *testing.T) {
	withAutoPipeline(t, func(t *testing.T, auto bool) {
		redistest.Run(t, func(t *testing.T, tg redistest.Target) {
			rg := redistest.NewReplayRig(t, tg)
			for _, algo := range []Algorithm{FixedWindow, SlidingWindow} {
				for _, limit := range []int64{10, 2} {
					prefix := fmt.Sprintf("%s%v%d:", tg.Prefix, algo, limit)
					l := newLimiter(t, tg, rg.Client, Options{
						Prefix: prefix, AutoPipeline: auto,
						Policies: []Policy{{Name: "api", Rate: rate(limit, time.Hour), Algorithm: algo}},
					})
					// The first request loads the script and opens the
					// connection, so the lost reply below is the script's.
					if res, err := l.Take(t.Context(), "alice", 1, ""); err != nil || !res.Allowed || res.States[0].Used != 1 {
						t.Fatalf("%v/%d: first request: %+v %v", algo, limit, res, err)
					}
					stored := prefix + "{alice}:f:api"
					if algo == SlidingWindow {
						stored = prefix + "{alice}:s:api:sum"
					}
					check := rg.Lose(t, stored)
					res, err := l.Take(t.Context(), "alice", 1, "")
					check()
					if err != nil {
						t.Fatalf("%v/%d: %v (go-redis should have resent the script)", algo, limit, err)
					}
					n, err := tg.Client.Get(t.Context(), stored).Int64()
					if err != nil {
						t.Fatal(err)
					}
					switch limit {
					case 10: // room for both runs: the one request counts twice
						if !res.Allowed || res.States[0].Used != 3 || res.States[0].Remaining != 7 || n != 3 {
							t.Fatalf("%v/%d: second request with a lost reply: allowed %v, used %d, remaining %d, stored %d; want allowed, 3, 7, 3",
								algo, limit, res.Allowed, res.States[0].Used, res.States[0].Remaining, n)
						}
					case 2: // the first run took the last unit; the second refuses
						if res.Allowed || !res.States[0].Exceeded || n != 2 {
							t.Fatalf("%v/%d: second request with a lost reply: allowed %v, used %d, stored %d; want refused, stored 2",
								algo, limit, res.Allowed, res.States[0].Used, n)
						}
					}
				}
			}
		})
	})
}
