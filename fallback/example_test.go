package fallback_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aura-platform/redishttp/fallback"
)

// LoadConfig reads the environment through a lookup function; a map makes
// it testable. A platform that provides the URL under its own name is
// listed after REDIS_URL. Errors name the variable and never show the
// password.
func ExampleLoadConfig() {
	vars := map[string]string{
		"HOSTED_REDIS_URL": "rediss://default:hunter2@eu1.example.net:6379",
	}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	cfg, err := fallback.LoadConfig(lookup, "REDIS_URL", "HOSTED_REDIS_URL")
	if err != nil {
		panic(err)
	}
	fmt.Println(cfg.Mode(), cfg.URLVar)
	fmt.Println(cfg)

	vars["REDIS_URL"] = "redis://:hunter2@localhost:notaport"
	_, err = fallback.LoadConfig(lookup, "REDIS_URL", "HOSTED_REDIS_URL")
	fmt.Println(errors.Is(err, fallback.ErrConfig))
	fmt.Println(err)
	// Output:
	// redis HOSTED_REDIS_URL
	// redis rediss://default:xxxxx@eu1.example.net:6379 (from HOSTED_REDIS_URL)
	// true
	// fallback: invalid configuration: REDIS_URL is not a valid redis:// or rediss:// URL (<unparseable URL>): malformed URL
}

// With no Redis configured the monitor is in memory mode for good: Do
// refuses at once, and the caller uses its in-memory backend.
func ExampleMonitor() {
	cfg, _ := fallback.LoadConfig(func(string) (string, bool) { return "", false })
	client, _ := cfg.NewClient() // nil: embedded mode
	mon, err := fallback.NewMonitor(client, fallback.MonitorOptions{})
	if err != nil {
		panic(err)
	}
	defer mon.Close()

	store := fallback.NewMemoryStore(1 << 20)
	defer store.Close()

	err = mon.Do(context.Background(), func(ctx context.Context) error {
		return client.Set(ctx, "k", "v", time.Minute).Err() // not called
	})
	if errors.Is(err, fallback.ErrUnavailable) {
		store.Set("k", []byte("v"), time.Minute)
	}
	v, _ := store.Get("k")
	fmt.Println(mon.State(), string(v))
	// Output:
	// memory v
}

// Take checks several windows at once and counts a request only when every
// window has room for it.
func ExampleMemoryLimiter_Take() {
	l := fallback.NewMemoryLimiter(0)
	windows := []fallback.Window{
		{Key: "user:42:minute", Limit: 2, Period: time.Minute},
		{Key: "user:42:hour", Limit: 100, Period: time.Hour},
	}
	for i := 1; i <= 3; i++ {
		states, ok := l.Take(1, windows)
		fmt.Println(i, ok, states[0].Count, states[1].Count)
	}
	// Output:
	// 1 true 1 1
	// 2 true 2 2
	// 3 false 2 2
}

// A KeyedMutex serialises work per key inside one process.
func ExampleKeyedMutex() {
	locks := fallback.NewKeyedMutex()
	unlock, ok := locks.TryLock("order:7")
	fmt.Println(ok)
	_, again := locks.TryLock("order:7")
	fmt.Println(again)
	unlock()
	fmt.Println(locks.Held("order:7"))
	// Output:
	// true
	// false
	// false
}

// MemoryStore is a byte-bounded key/value store with TTLs.
func ExampleMemoryStore() {
	s := fallback.NewMemoryStore(64 << 20)
	defer s.Close()
	s.Set("page:/home", []byte("<html>"), time.Minute)
	fmt.Println(s.SetNX("page:/home", []byte("other"), time.Minute))
	v, ok := s.Get("page:/home")
	fmt.Println(string(v), ok)
	fmt.Println(s.DeletePrefix("page:"))
	// Output:
	// false
	// <html> true
	// 1
}
