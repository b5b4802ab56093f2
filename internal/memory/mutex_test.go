package memory_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/memory"
)

func TestKeyedMutexTryLock(t *testing.T) {
	k := memory.NewKeyedMutex()
	unlock, ok := k.TryLock("a")
	if !ok || unlock == nil || !k.Held("a") {
		t.Fatal("TryLock on a free key failed")
	}
	if u, ok := k.TryLock("a"); ok || u != nil {
		t.Error("TryLock on a held key succeeded")
	}
	// Other keys are independent.
	ub, ok := k.TryLock("b")
	if !ok {
		t.Fatal("key b blocked by key a")
	}
	unlock()
	unlock() // idempotent: must not free a later holder's lock
	if k.Held("a") {
		t.Error("a still held after unlock")
	}
	u2, ok := k.TryLock("a")
	if !ok {
		t.Fatal("relock after unlock failed")
	}
	unlock() // the first holder's stale unlock again
	if !k.Held("a") {
		t.Error("a stale unlock released the new holder's lock")
	}
	u2()
	ub()
	if k.Held("a") || k.Held("b") || k.Held("never") {
		t.Error("keys held after unlocking")
	}
}

func TestKeyedMutexLock(t *testing.T) {
	k := memory.NewKeyedMutex()
	unlock, err := k.Lock(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	// A waiter gets the lock when it is released.
	got := make(chan func(), 1)
	go func() {
		u, err := k.Lock(context.Background(), "a")
		if err != nil {
			t.Error(err)
		}
		got <- u
	}()
	select {
	case <-got:
		t.Fatal("second Lock did not wait")
	case <-time.After(50 * time.Millisecond):
	}
	unlock()
	var u2 func()
	select {
	case u2 = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("waiter never got the lock")
	}
	if !k.Held("a") {
		t.Error("a not held by the waiter")
	}

	// A canceled or timed-out wait returns the context's error.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if u, err := k.Lock(ctx, "a"); !errors.Is(err, context.DeadlineExceeded) || u != nil {
		t.Errorf("Lock with a deadline = %v", err)
	}
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if _, err := k.Lock(cctx, "a"); !errors.Is(err, context.Canceled) {
		t.Errorf("Lock with a canceled ctx = %v", err)
	}
	// The lock is still the holder's, and free after.
	if !k.Held("a") {
		t.Error("a canceled waiter released the lock")
	}
	u2()
	if u, err := k.Lock(context.Background(), "a"); err != nil {
		t.Errorf("Lock after release: %v", err)
	} else {
		u()
	}
}

func TestKeyedMutexConcurrent(t *testing.T) {
	k := memory.NewKeyedMutex()
	var wg sync.WaitGroup
	counters := make([]int, 4) // protected by the keyed mutex only
	var inside [4]atomic.Int32
	var timeouts atomic.Int32
	for i := range 400 {
		wg.Go(func() {
			key := i % 4
			name := fmt.Sprintf("key%d", key)
			var unlock func()
			switch i % 3 {
			case 0:
				var ok bool
				for !ok {
					unlock, ok = k.TryLock(name)
					if !ok {
						time.Sleep(time.Microsecond)
					}
				}
			case 1:
				var err error
				unlock, err = k.Lock(context.Background(), name)
				if err != nil {
					t.Error(err)
					return
				}
			case 2:
				// Some waiters give up: they must leave no trace.
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%5)*time.Microsecond)
				defer cancel()
				u, err := k.Lock(ctx, name)
				if err != nil {
					timeouts.Add(1)
					u, err = k.Lock(context.Background(), name)
					if err != nil {
						t.Error(err)
						return
					}
				}
				unlock = u
			}
			if inside[key].Add(1) != 1 {
				t.Error("two holders of one key")
			}
			counters[key]++
			inside[key].Add(-1)
			unlock()
		})
	}
	wg.Wait()
	for i, c := range counters {
		if c != 100 {
			t.Errorf("key%d counter %d, want 100", i, c)
		}
	}
	for i := range 4 {
		if k.Held(fmt.Sprintf("key%d", i)) {
			t.Errorf("key%d held at the end", i)
		}
	}
	t.Logf("waits that timed out: %d", timeouts.Load())
}
