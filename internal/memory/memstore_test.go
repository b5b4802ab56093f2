package memory_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/memory"
)

func newStore(t *testing.T, max int64) *memory.Store {
	s := memory.NewStore(max)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestMemoryStoreGetSet(t *testing.T) {
	s := newStore(t, 0)
	if _, ok := s.Get("k"); ok {
		t.Fatal("empty store has k")
	}
	s.Set("k", []byte("v1"), time.Minute)
	if v, ok := s.Get("k"); !ok || string(v) != "v1" {
		t.Fatalf("Get = %q, %v", v, ok)
	}
	s.Set("k", []byte("v2"), time.Minute)
	if v, _ := s.Get("k"); string(v) != "v2" {
		t.Errorf("overwrite: %q", v)
	}
	if ttl, ok := s.TTL("k"); !ok || ttl <= 0 || ttl > time.Minute {
		t.Errorf("TTL = %v, %v", ttl, ok)
	}
	if _, ok := s.TTL("nope"); ok {
		t.Error("TTL of a missing key")
	}
	// A ttl <= 0 deletes instead of storing forever.
	s.Set("k", []byte("v3"), 0)
	if _, ok := s.Get("k"); ok {
		t.Error("Set with ttl 0 kept the key")
	}
	s.Set("neg", []byte("x"), -time.Second)
	if _, ok := s.Get("neg"); ok {
		t.Error("Set with a negative ttl stored the key")
	}
	s.Set("empty", nil, time.Minute)
	if v, ok := s.Get("empty"); !ok || len(v) != 0 {
		t.Errorf("empty value: %q, %v", v, ok)
	}
}

func TestMemoryStoreTTLExpiry(t *testing.T) {
	s := newStore(t, 0)
	s.Set("short", []byte("x"), 50*time.Millisecond)
	s.Set("long", []byte("y"), time.Hour)
	if _, ok := s.Get("short"); !ok {
		t.Fatal("short gone at once")
	}
	time.Sleep(150 * time.Millisecond) // well past the ttl: lower bound only
	if _, ok := s.Get("short"); ok {
		t.Error("short still there after its ttl")
	}
	if _, ok := s.TTL("short"); ok {
		t.Error("TTL of an expired key")
	}
	if _, ok := s.Get("long"); !ok {
		t.Error("long expired")
	}
	// SetNX treats an expired key as absent.
	s.Set("nx", []byte("old"), 50*time.Millisecond)
	time.Sleep(150 * time.Millisecond)
	if !s.SetNX("nx", []byte("new"), time.Minute) {
		t.Error("SetNX refused over an expired key")
	}
	if v, _ := s.Get("nx"); string(v) != "new" {
		t.Errorf("nx = %q", v)
	}
	// Overwriting resets the ttl.
	s.Set("re", []byte("a"), 50*time.Millisecond)
	s.Set("re", []byte("b"), time.Hour)
	time.Sleep(150 * time.Millisecond)
	if v, ok := s.Get("re"); !ok || string(v) != "b" {
		t.Errorf("re = %q, %v", v, ok)
	}
}

func TestMemoryStoreSetNX(t *testing.T) {
	s := newStore(t, 0)
	if !s.SetNX("k", []byte("first"), time.Minute) {
		t.Fatal("SetNX on an absent key failed")
	}
	if s.SetNX("k", []byte("second"), time.Minute) {
		t.Error("SetNX on a present key succeeded")
	}
	if v, _ := s.Get("k"); string(v) != "first" {
		t.Errorf("k = %q", v)
	}
	if s.SetNX("z", []byte("x"), 0) {
		t.Error("SetNX with ttl 0 succeeded")
	}
	// Concurrent SetNX: exactly one winner per key.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := map[string]int{}
	for i := range 400 {
		wg.Go(func() {
			key := fmt.Sprintf("race%d", i%4)
			if s.SetNX(key, []byte{byte(i)}, time.Minute) {
				mu.Lock()
				wins[key]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for i := range 4 {
		if n := wins[fmt.Sprintf("race%d", i)]; n != 1 {
			t.Errorf("race%d: %d winners", i, n)
		}
	}
}

func TestMemoryStoreDelete(t *testing.T) {
	s := newStore(t, 0)
	for _, k := range []string{"user:1:a", "user:1:b", "user:10:a", "user:2:a", "other"} {
		s.Set(k, []byte(k), time.Minute)
	}
	if n := s.Delete("other", "missing"); n != 1 {
		t.Errorf("Delete = %d", n)
	}
	if n := s.DeletePrefix("user:1:"); n != 2 {
		t.Errorf("DeletePrefix = %d", n)
	}
	for k, want := range map[string]bool{"user:1:a": false, "user:1:b": false, "user:10:a": true, "user:2:a": true, "other": false} {
		if _, ok := s.Get(k); ok != want {
			t.Errorf("%s present = %v, want %v", k, ok, want)
		}
	}
	// Glob characters in a prefix are literal.
	s.Set("a*b", []byte("x"), time.Minute)
	s.Set("axb", []byte("x"), time.Minute)
	if n := s.DeletePrefix("a*"); n != 1 {
		t.Errorf("DeletePrefix(a*) = %d", n)
	}
	if _, ok := s.Get("axb"); !ok {
		t.Error("DeletePrefix treated * as a glob")
	}
	if n := s.DeleteFunc(func(k string) bool { return strings.HasSuffix(k, ":a") }); n != 2 {
		t.Errorf("DeleteFunc = %d", n)
	}
	if n := s.DeleteFunc(func(string) bool { return false }); n != 0 {
		t.Errorf("DeleteFunc(none) = %d", n)
	}
	s.Set("x", []byte("1"), time.Minute)
	s.Clear()
	if _, ok := s.Get("x"); ok || s.Len() != 0 {
		t.Errorf("Clear left %d entries", s.Len())
	}
}

// liveBytes counts what the store really holds: every key it still
// returns, weighed like the store weighs them (key + value + 64).
func liveBytes(s *memory.Store) (n int, bytes uint64) {
	s.DeleteFunc(func(k string) bool {
		if v, ok := s.Get(k); ok {
			n++
			bytes += uint64(len(k) + len(v) + 64)
		}
		return false
	})
	return n, bytes
}

// TestMemoryStoreByteBound inserts far more than the bound and checks both
// the store's own account (Bytes) and what it really keeps in memory, at
// checkpoints during the burst, not only once it settled.
func TestMemoryStoreByteBound(t *testing.T) {
	const bound = 64 << 10 // 64 KiB
	for _, size := range []int{100, 1000, 20 << 10, 60 << 10} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			s := newStore(t, bound)
			val := bytes.Repeat([]byte("v"), size)
			// The store may run over by an eighth of the bound (its
			// eviction slack) plus the value being written.
			limit := uint64(bound + bound/8 + size + 64 + 16)
			var maxLive uint64
			total := 80 * bound / size // 80x the bound in all
			for i := range total {
				s.Set(fmt.Sprintf("key-%06d", i), val, time.Hour)
				if b := s.Bytes(); b > bound {
					t.Fatalf("Bytes = %d after %d writes, bound %d", b, i+1, bound)
				}
				if i%(total/50) == 0 {
					_, live := liveBytes(s)
					maxLive = max(maxLive, live)
				}
			}
			n, live := liveBytes(s)
			maxLive = max(maxLive, live)
			t.Logf("%d writes of %d bytes: Bytes %d, live %d keys %d bytes, max live %d, bound %d", total, size, s.Bytes(), n, live, maxLive, bound)
			if maxLive > limit {
				t.Errorf("held %d bytes during the burst, limit %d", maxLive, limit)
			}
			if n == 0 {
				t.Error("store kept nothing")
			}
		})
	}
	t.Run("value larger than the bound", func(t *testing.T) {
		s := newStore(t, bound)
		s.Set("small", []byte("x"), time.Hour)
		s.Set("huge", make([]byte, 2*bound), time.Hour)
		for range 3 {
			s.Set("nudge", []byte("y"), time.Hour) // let maintenance run
		}
		if _, live := liveBytes(s); live > uint64(bound) {
			t.Errorf("huge value kept: %d live bytes", live)
		}
	})
	t.Run("concurrent writers", func(t *testing.T) {
		s := newStore(t, bound)
		val := bytes.Repeat([]byte("v"), 1000)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 1000 {
					k := fmt.Sprintf("g%d-%d", g, i)
					s.Set(k, val, time.Hour)
					s.Get(k)
				}
			})
		}
		wg.Wait()
		if _, live := liveBytes(s); s.Bytes() > bound || live > bound+bound/8+8*1100 {
			t.Errorf("Bytes %d, live %d after concurrent writes", s.Bytes(), live)
		}
	})
}

func TestMemoryStoreClose(t *testing.T) {
	s := memory.NewStore(1 << 20)
	s.Set("k", []byte("v"), time.Minute)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Still usable after Close.
	if v, ok := s.Get("k"); !ok || string(v) != "v" {
		t.Errorf("after Close: %q, %v", v, ok)
	}
	s.Set("k2", []byte("v2"), time.Minute)
	if _, ok := s.Get("k2"); !ok {
		t.Error("Set after Close lost")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
