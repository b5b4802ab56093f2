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
	fmt.Println(errors.Is(err, fallback.ErrInvalidOptions))
	fmt.Println(err)
	// Output:
	// redis HOSTED_REDIS_URL
	// redis rediss://default:xxxxx@eu1.example.net:6379 (from HOSTED_REDIS_URL)
	// true
	// fallback: invalid options: REDIS_URL is not a valid redis:// or rediss:// URL (<unparseable URL>): malformed URL
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

	store := map[string]string{} // your in-memory fallback

	err = mon.Do(context.Background(), func(ctx context.Context) error {
		return client.Set(ctx, "k", "v", time.Minute).Err() // not called
	})
	if errors.Is(err, fallback.ErrUnavailable) {
		store["k"] = "v"
	}
	fmt.Println(mon.State(), store["k"])
	// Output:
	// memory v
}
