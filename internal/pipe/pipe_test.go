package pipe_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/pipe"
	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/redis/go-redis/v9"
)

var incr = redis.NewScript(`return redis.call('INCRBY', KEYS[1], ARGV[1])`)

func TestMain(m *testing.M) { redistest.VerifyNoLeaks(m) }

// TestRunnerScripts: scripts run through redis.Script.Run on a Runner,
// with and without the auto-pipeliner, on every target.
func TestRunnerScripts(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		for _, auto := range []bool{false, true} {
			r, err := pipe.New(tg.NewClient(t), auto)
			if err != nil {
				t.Fatal(err)
			}
			if r.Pipelined() != auto {
				t.Fatalf("Pipelined() = %v, want %v", r.Pipelined(), auto)
			}
			key := fmt.Sprintf("%s{k}:%v", tg.Prefix, auto)
			var wg sync.WaitGroup
			for range 50 {
				wg.Go(func() {
					if err := incr.Run(context.Background(), r, []string{key}, 2).Err(); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if n, err := r.Do(context.Background(), "get", key).Int(); err != nil || n != 100 {
				t.Fatalf("auto=%v: counter %d, %v; want 100", auto, n, err)
			}
		}
	})
}

// TestRunnerBatches: 200 goroutines that each send one script call at the
// same moment reach Redis in far fewer writes when pipelined, and in one
// each when not.
func TestRunnerBatches(t *testing.T) {
	tg := redistest.New(t)
	for _, auto := range []bool{false, true} {
		c, h := redistest.CountedClient(t, tg, redistest.IsScriptCall) // script calls, not handshakes
		r, err := pipe.New(c, auto)
		if err != nil {
			t.Fatal(err)
		}
		if err := incr.Run(context.Background(), r, []string{tg.Prefix + "{load}"}, 1).Err(); err != nil {
			t.Fatal(err) // loads the script: every call below is one EVALSHA
		}
		const n = 200
		h.Take()
		redistest.Burst(n, func(i int) {
			key := fmt.Sprintf("%s{k%d}", tg.Prefix, i)
			if err := incr.Run(context.Background(), r, []string{key}, 1).Err(); err != nil {
				t.Error(err)
			}
		})
		counts, p := h.Take()
		cmds := redistest.Total(counts)
		t.Logf("auto=%v: %d commands in %d writes", auto, cmds, p)
		if cmds != n {
			t.Fatalf("auto=%v: the hook saw %d script calls, want %d", auto, cmds, n)
		}
		if !auto && p != cmds {
			t.Errorf("plain: %d writes for %d commands, want one each", p, cmds)
		}
		if auto && p*2 > cmds {
			t.Errorf("pipelined: %d writes for %d commands, want batches of 2 or more on average", p, cmds)
		}
	}
}

// TestRunnerAbandonedWait: against a server that stops answering, the
// caller's deadline ends the wait, and the command returned is safe to
// read at once.
func TestRunnerAbandonedWait(t *testing.T) {
	tg := redistest.New(t)
	addr := tg.Client.(*redis.Client).Options().Addr
	px := redistest.StartProxy(t, addr)
	c := redis.NewClient(&redis.Options{Addr: px.Addr, ContextTimeoutEnabled: true, ReadTimeout: 5 * time.Second})
	t.Cleanup(func() { _ = c.Close() })
	r, err := pipe.New(c, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Do(context.Background(), "ping").Err(); err != nil {
		t.Fatal(err)
	}
	px.SetBlackhole(true)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	begin := time.Now()
	cmd := incr.Run(ctx, r, []string{tg.Prefix + "{x}"}, 1)
	took := time.Since(begin)
	if !errors.Is(cmd.Err(), context.DeadlineExceeded) {
		t.Fatalf("err %v, want the context's deadline", cmd.Err())
	}
	if took > 2*time.Second {
		t.Fatalf("the wait took %v, not bounded by the caller's deadline (the client's ReadTimeout is 5s)", took)
	}
	px.SetBlackhole(false)
}

// TestRunnerReplay: a reply lost after Redis executed a batch makes
// go-redis send the batch again, so an INCRBY runs twice. This is the fault
// the scripts of the feature packages are written to survive.
func TestRunnerReplay(t *testing.T) {
	tg := redistest.New(t)
	addr := tg.Client.(*redis.Client).Options().Addr
	for _, auto := range []bool{false, true} {
		px := redistest.StartProxy(t, addr)
		c := redis.NewClient(&redis.Options{Addr: px.Addr, ContextTimeoutEnabled: true})
		t.Cleanup(func() { _ = c.Close() })
		r, err := pipe.New(c, auto)
		if err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprintf("%s{replay}:%v", tg.Prefix, auto)
		if err := incr.Run(context.Background(), r, []string{key}, 0).Err(); err != nil {
			t.Fatal(err) // loads the script
		}
		px.LoseReplies(1)
		n, err := incr.Run(context.Background(), r, []string{key}, 1).Int()
		if err != nil {
			t.Fatalf("auto=%v: %v (go-redis should have retried)", auto, err)
		}
		if n != 2 {
			t.Fatalf("auto=%v: counter %d after one call with a lost reply, want 2 (run twice)", auto, n)
		}
	}
}

// TestNewUnsupported: a client without an auto-pipeliner (a Ring) is
// refused when auto-pipelining is asked for, and accepted without.
func TestNewUnsupported(t *testing.T) {
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}})
	t.Cleanup(func() { _ = ring.Close() })
	if _, err := pipe.New(ring, true); err == nil {
		t.Fatal("auto-pipelining on a Ring: no error")
	}
	if _, err := pipe.New(ring, false); err != nil {
		t.Fatal(err)
	}
}
