package memory_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// watchLog records what a Watch function saw.
type watchLog struct {
	mu   sync.Mutex
	left []string // "key=value"
}

func (w *watchLog) fn(key string, value []byte) {
	w.mu.Lock()
	w.left = append(w.left, key+"="+string(value))
	w.mu.Unlock()
}

func (w *watchLog) get() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.left...)
}

// Watch sees every value that leaves the store: replaced, deleted, expired,
// cleared; and nothing after its stop.
func TestMemoryStoreWatch(t *testing.T) {
	s := newStore(t, 0)
	var w, w2 watchLog
	stop := s.Watch(w.fn)
	stop2 := s.Watch(w2.fn)
	s.Set("a", []byte("1"), time.Minute)
	s.Set("a", []byte("2"), time.Minute) // replaces 1
	s.SetNX("a", []byte("3"), time.Minute)
	s.Delete("a") // deletes 2
	s.Set("b", []byte("1"), time.Minute)
	s.Set("c", []byte("1"), time.Minute)
	s.Clear() // b and c
	if got := fmt.Sprint(w.get()); got != "[a=1 a=2 b=1 c=1]" && got != "[a=1 a=2 c=1 b=1]" {
		t.Fatalf("watch saw %s", got)
	}
	stop2()
	stop2() // idempotent
	s.Set("e", []byte("1"), 20*time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(w.get(), "e=1") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		s.Set("poke", []byte("x"), time.Minute) // writes run pending maintenance
	}
	if got := w.get(); !slices.Contains(got, "e=1") {
		t.Fatalf("expiry not seen: %v", got)
	}
	if got := w2.get(); len(got) != 4 {
		t.Fatalf("stopped watcher still called: %v", got)
	}
	stop()
	n := len(w.get())
	s.Delete("poke")
	if len(w.get()) != n {
		t.Fatal("stopped watcher called")
	}
}

// Under eviction, the keys a watcher believes live (set and not yet seen
// leaving) are exactly the store's keys.
func TestMemoryStoreWatchEviction(t *testing.T) {
	s := newStore(t, 64<<10)
	var mu sync.Mutex
	live := map[string]*byte{}
	stop := s.Watch(func(key string, value []byte) {
		mu.Lock()
		defer mu.Unlock()
		if p, ok := live[key]; ok && len(value) > 0 && p == &value[0] {
			delete(live, key)
		}
	})
	defer stop()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5000 {
				k := fmt.Sprintf("g%d:k%d", g, i%1500) // overwrites, one writer per key
				v := make([]byte, 100)
				mu.Lock()
				live[k] = &v[0] // recorded before the write, as an index would
				mu.Unlock()
				s.Set(k, v, time.Minute)
			}
		}()
	}
	wg.Wait()
	var diff []string
	for range 50 {
		inStore := map[string]bool{}
		s.DeleteFunc(func(k string) bool { inStore[k] = true; return false })
		mu.Lock()
		diff = diff[:0]
		for k := range live {
			if !inStore[k] {
				diff = append(diff, "stale "+k)
			}
		}
		for k := range inStore {
			if _, ok := live[k]; !ok {
				diff = append(diff, "missing "+k)
			}
		}
		mu.Unlock()
		if len(diff) == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(diff) > 0 {
		t.Fatalf("%d differences, e.g. %v", len(diff), diff[:min(5, len(diff))])
	}
	if len(live) > 1000 {
		t.Fatalf("%d live keys in a 64 KiB store", len(live))
	}
}
