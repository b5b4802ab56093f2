package memory

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestKeyedMutexNoLeakedEntries: after any mix of TryLock, Lock, canceled
// waits and double unlocks, no map entry is left behind.
func TestKeyedMutexNoLeakedEntries(t *testing.T) {
	k := NewKeyedMutex()
	var wg sync.WaitGroup
	for i := range 2000 {
		wg.Go(func() {
			key := fmt.Sprintf("k%d", i%37)
			switch i % 4 {
			case 0:
				if u, ok := k.TryLock(key); ok {
					u()
					u()
				}
			case 1:
				u, err := k.Lock(context.Background(), key)
				if err == nil {
					time.Sleep(time.Microsecond)
					u()
				}
			case 2:
				ctx, cancel := context.WithTimeout(context.Background(), time.Microsecond)
				if u, err := k.Lock(ctx, key); err == nil {
					u()
				}
				cancel()
			case 3:
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				if u, err := k.Lock(ctx, key); err == nil {
					u()
				}
			}
		})
	}
	wg.Wait()
	k.mu.Lock()
	n := len(k.m)
	k.mu.Unlock()
	if n != 0 {
		t.Errorf("%d map entries left after every lock was released", n)
	}
}
