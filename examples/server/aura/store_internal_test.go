package aura

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/internal/redistest"
)

// storeVariants all compare equal under AuraNameKey.
var storeVariants = []string{"dup", " dup", "dup ", "\tdup", "dup", " dup\n"}

// raceCreates creates every variant at once through stores (round robin),
// with no lock around them and a slow write that lets every early check
// pass, and returns how many succeeded.
func raceCreates(t *testing.T, stores []Store) int64 {
	t.Helper()
	var ok atomic.Int64
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for round := range 3 {
		for i, name := range storeVariants {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				s := stores[(round+i)%len(stores)]
				a := Aura{ID: newID(), UserID: "racer", Name: name, CreatedAt: time.Now()}
				switch err := s.CreateAura(context.Background(), a, 0, 50*time.Millisecond); {
				case err == nil:
					ok.Add(1)
				case !errors.Is(err, ErrAuraExists):
					t.Errorf("create %q: %v", name, err)
				}
			}()
		}
	}
	close(gate)
	wg.Wait()
	return ok.Load()
}

// The stores refuse a second aura of one name in the same atomic step that
// writes it, so even creates that bypass the lock cannot duplicate a name.
func TestStoreNameUniqueWithoutLock(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		s := newMemStore()
		if n := raceCreates(t, []Store{s}); n != 1 {
			t.Errorf("%d auras created, want 1", n)
		}
		checkFreedOnDelete(t, s)
	})
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		var stores []Store
		for range 3 {
			c := tg.NewClient(t)
			mon, err := fallback.NewMonitor(c, fallback.MonitorOptions{CommandTimeout: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = mon.Close() })
			stores = append(stores, &redisStore{c: c, prefix: tg.Prefix, mon: mon})
		}
		if n := raceCreates(t, stores); n != 1 {
			t.Errorf("%d auras created across 3 instances, want 1", n)
		}
		checkFreedOnDelete(t, stores[0])
	})
}

// checkFreedOnDelete deletes the racer's aura and checks that another
// spelling of its name can be created again, once.
func checkFreedOnDelete(t *testing.T, s Store) {
	t.Helper()
	ctx := context.Background()
	list, err := s.Auras(ctx, "racer")
	if err != nil || len(list) != 1 {
		t.Fatalf("auras: %v %v", list, err)
	}
	if err := s.DeleteAura(ctx, "racer", list[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAura(ctx, Aura{ID: newID(), UserID: "racer", Name: " dup "}, 0, 0); err != nil {
		t.Errorf("create after delete: %v", err)
	}
	if err := s.CreateAura(ctx, Aura{ID: newID(), UserID: "racer", Name: "dup"}, 0, 0); !errors.Is(err, ErrAuraExists) {
		t.Errorf("second create after delete: %v, want ErrAuraExists", err)
	}
}

// churn creates and deletes n distinct names for user with rising fencing
// tokens, and checks that a stale token cannot recreate a deleted name
// while its fence record lives.
func churn(t *testing.T, s Store, user string, n int) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		name := "name-" + strconv.Itoa(i)
		a := Aura{ID: newID(), UserID: user, Name: name, CreatedAt: time.Now()}
		fence := int64(1000 + 10*i)
		if err := s.CreateAura(ctx, a, fence, 0); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		if err := s.DeleteAura(ctx, user, a.ID); err != nil {
			t.Fatalf("delete %s: %v", name, err)
		}
		stale := Aura{ID: newID(), UserID: user, Name: name, CreatedAt: time.Now()}
		if err := s.CreateAura(ctx, stale, fence-1, 0); !errors.Is(err, ErrStaleFence) {
			t.Fatalf("a stale holder's create of %s after its delete: %v, want ErrStaleFence", name, err)
		}
	}
}

// Deleting an aura starts the expiry of its name's fence record in the
// same step: a churn of distinct names leaves only expiring records (each
// still refusing a stale holder's write), and none once fenceGrace has
// passed. A new fenced create of a name makes its record permanent again.
func TestFenceRecordsExpireAfterDelete(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		s := newMemStore()
		now := time.Unix(1000, 0)
		s.now = func() time.Time { return now }
		churn(t, s, "churner", 200)
		s.mu.Lock()
		for k, r := range s.fences {
			if r.expires.IsZero() || r.expires.Sub(now) > fenceGrace {
				t.Errorf("fence record %q expires %v, want within %v", k, r.expires, fenceGrace)
			}
		}
		if len(s.auras) != 0 || len(s.names) != 0 {
			t.Errorf("%d users with auras, %d with names after deleting all", len(s.auras), len(s.names))
		}
		s.mu.Unlock()
		// A name created again with a newer token keeps its record.
		if err := s.CreateAura(context.Background(), Aura{ID: newID(), UserID: "churner", Name: "name-0"}, 99999, 0); err != nil {
			t.Fatal(err)
		}
		now = now.Add(fenceGrace)
		if err := s.CreateAura(context.Background(), Aura{ID: newID(), UserID: "churner", Name: "other"}, 0, 0); err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.fences) != 1 || s.fences["churner\x00name-0"] != (fenceRecord{token: 99999}) || s.expiring.Len() != 0 {
			t.Errorf("after the grace: fences %v (queue %d), want only the live name-0", s.fences, s.expiring.Len())
		}
	})
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		ctx := context.Background()
		mon, err := fallback.NewMonitor(tg.Client, fallback.MonitorOptions{CommandTimeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = mon.Close() })
		s := &redisStore{c: tg.Client, prefix: tg.Prefix, mon: mon}
		const n = 50
		churn(t, s, "churner", n)
		for i := range n {
			k := s.fenceKey("churner", "name-"+strconv.Itoa(i))
			if ttl := tg.Client.PTTL(ctx, k).Val(); ttl <= 0 || ttl > fenceGrace {
				t.Errorf("fence record %s: PTTL %v, want expiring within %v", k, ttl, fenceGrace)
			}
		}
		for _, kind := range []string{"auras", "aura-names", "aura-fence"} {
			if n := tg.Client.Exists(ctx, s.userKey(kind, "churner")).Val(); n != 0 {
				t.Errorf("%s still exists after deleting every aura", kind)
			}
		}
		if err := s.CreateAura(ctx, Aura{ID: newID(), UserID: "churner", Name: "name-0"}, 99999, 0); err != nil {
			t.Fatal(err)
		}
		if ttl := tg.Client.PTTL(ctx, s.fenceKey("churner", "name-0")).Val(); ttl != -1 {
			t.Errorf("fence record of a live name: PTTL %v, want none (-1)", ttl)
		}
		if tg.Mini != nil {
			tg.Mini.FastForward(fenceGrace)
			var left []string
			for _, k := range tg.Mini.Keys() {
				if strings.HasPrefix(k, tg.Prefix) && strings.Contains(k, "aura-fence") {
					left = append(left, k)
				}
			}
			if len(left) != 1 || left[0] != s.fenceKey("churner", "name-0") {
				t.Errorf("fence records after the grace: %v, want only the live name-0", left)
			}
		}
	})
}
