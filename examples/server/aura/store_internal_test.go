package aura

import (
	"context"
	"errors"
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
