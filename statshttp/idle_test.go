package statshttp_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
	mw "github.com/aura-platform/redishttp/middleware"
	"github.com/aura-platform/redishttp/statshttp"
	"github.com/redis/go-redis/v9"
)

// cmdLog records the names of the commands a client sends, pipelines'
// and transactions' contents included, leaving out connection set-up.
type cmdLog struct {
	mu    sync.Mutex
	names []string
}

func (l *cmdLog) add(cmds ...redis.Cmder) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range cmds {
		if n := c.Name(); n != "hello" && n != "client" && n != "auth" && n != "select" {
			l.names = append(l.names, n)
		}
	}
}

func (l *cmdLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.names
	l.names = nil
	return n
}

func (l *cmdLog) DialHook(next redis.DialHook) redis.DialHook { return next }

func (l *cmdLog) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { l.add(cmd); return next(ctx, cmd) }
}

func (l *cmdLog) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { l.add(cmds...); return next(ctx, cmds) }
}

// TestIdleInstanceHeartbeat: an instance with nothing new sends no flush,
// only a one-command heartbeat every InstanceTTL/3, and stays listed (with
// its figures) long past InstanceTTL; when its record disappears the
// heartbeat writes it again in full; new counts go out at the next flush.
func TestIdleInstanceHeartbeat(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		const flush, ttl = 20 * time.Millisecond, 600 * time.Millisecond
		opts := statshttp.Options{Token: testToken, Prefix: tg.Prefix, FlushInterval: flush, InstanceTTL: ttl}
		a := newRecorder(t, tg.NewClient(t), withID(opts, "a"))
		bc := tg.NewClient(t)
		log := &cmdLog{}
		bc.AddHook(log)
		b := newRecorder(t, bc, withID(opts, "idle"))
		b.Observe(mw.Event{Kind: mw.CacheHit, Route: "r"})

		listed := func() string {
			rep := fetchReport(t, a)
			for _, in := range rep.Instances {
				if in.ID == "idle" {
					if in.Performance.Hits != 1 {
						return fmt.Sprintf("idle listed with %d hits", in.Performance.Hits)
					}
					if age := time.Since(in.LastSeen); age > ttl {
						return fmt.Sprintf("idle last seen %v ago", age)
					}
					return ""
				}
			}
			return "idle not listed"
		}
		eventually(t, 5*time.Second, listed) // b's first flush
		log.take()
		for end := time.Now().Add(3 * ttl); time.Now().Before(end); time.Sleep(ttl / 4) {
			if msg := listed(); msg != "" {
				t.Fatal(msg)
			}
		}
		got := log.take()
		for _, n := range got {
			if n != "evalsha" && n != "eval" {
				t.Errorf("idle instance sent %q", n)
			}
		}
		if beats := 3 * 3; len(got) < beats-2 || len(got) > beats+2 {
			t.Errorf("idle instance sent %d commands in 3*InstanceTTL, want about %d heartbeats: %v", len(got), beats, got)
		}

		// The record is gone (expired, or the database was emptied): the
		// next heartbeat writes it again.
		ctx := context.Background()
		if err := bc.Del(ctx, tg.Prefix+"{stats}:inst:idle").Err(); err != nil {
			t.Fatal(err)
		}
		eventually(t, 2*time.Second, listed)

		// New counts go out with the next flush.
		b.Observe(mw.Event{Kind: mw.CacheMiss, Route: "r"})
		eventually(t, 2*time.Second, func() string {
			if rep := fetchReport(t, a); rep.Performance.Misses != 1 {
				return fmt.Sprintf("misses %d, want 1", rep.Performance.Misses)
			}
			return ""
		})
	})
}
