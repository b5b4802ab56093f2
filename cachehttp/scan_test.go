package cachehttp

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
)

// scanAll SCANs every master for match, calling fn with each batch and
// counting the keys into *n.
func scanAll(ctx context.Context, client redis.UniversalClient, match string, fn func([]string), n *int) error {
	var mu sync.Mutex
	scan := func(ctx context.Context, node redis.UniversalClient) error {
		var cursor uint64
		for {
			keys, next, err := node.Scan(ctx, cursor, match, 1000).Result()
			if err != nil {
				return err
			}
			mu.Lock()
			*n += len(keys)
			fn(keys)
			mu.Unlock()
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	}
	if cc, ok := client.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return scan(ctx, m) })
	}
	return scan(ctx, client)
}
