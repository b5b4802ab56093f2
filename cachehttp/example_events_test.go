package cachehttp_test

import (
	"context"
	"fmt"
	"log"

	"github.com/alicebob/miniredis/v2"
	"github.com/aura-platform/redishttp/cachehttp"
	"github.com/redis/go-redis/v9"
)

// A subscription to one user's invalidations, made by any instance
// sharing the Redis: another user's tag is not delivered, and the ID of
// the last event applied is where a later subscription resumes.
func ExampleCache_Events() {
	mr, err := miniredis.Run()
	if err != nil {
		log.Fatal(err)
	}
	defer mr.Close()
	client := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	defer client.Close()
	cache, err := cachehttp.New(client, cachehttp.Options{Prefix: "example:"})
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	ctx := context.Background()

	events, err := cache.Events(ctx, cachehttp.EventsOptions{Tags: []string{"user:42"}})
	if err != nil {
		log.Fatal(err)
	}
	defer events.Close()
	_, _ = cache.InvalidateTags(ctx, "user:7")
	_, _ = cache.InvalidateTags(ctx, "user:42", "user:7")
	_, _ = cache.BumpVersion(ctx, "catalog")
	_, _ = cache.InvalidateTags(ctx, "user:42")

	ev, err := events.Next(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ev.Kind, ev.Tags)
	applied := ev.ID
	events.Close()

	// Later, resuming after the last event applied.
	resumed, err := cache.Events(ctx, cachehttp.EventsOptions{From: applied, Tags: []string{"user:42"}})
	if err != nil {
		log.Fatal(err)
	}
	defer resumed.Close()
	ev, err = resumed.Next(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ev.Kind, ev.Tags)
	// Output:
	// tags [user:42]
	// tags [user:42]
}
