package redistest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// UsedMemory returns node's INFO used_memory, in bytes.
func UsedMemory(t testing.TB, node *redis.Client) int {
	t.Helper()
	info, err := node.Info(context.Background(), "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	t.Fatalf("no used_memory in INFO memory:\n%s", info)
	return 0
}

// FillUntilOOM makes node run out of memory the way a production server
// does with maxmemory-policy noeviction: maxmemory 40 MiB above what it
// uses, filler keys written until a write fails with OOM, then maxmemory
// 24 MiB below the memory used, so that no small write squeezes through
// when the client buffers of a loaded server shrink (they move by
// megabytes under load, more so when clients pipeline, and used_memory
// counts them). PING, reads and DEL keep working. prefix must hash
// to node (on a cluster, give it the node's hash tag). It returns the filler
// keys; deleting them and setting maxmemory 0 ends the condition. Use it
// on private servers only (StartServer, StartCluster).
func FillUntilOOM(t testing.TB, node *redis.Client, prefix string) []string {
	t.Helper()
	ctx := context.Background()
	if err := node.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
	if err := node.ConfigSet(ctx, "maxmemory", strconv.Itoa(UsedMemory(t, node)+40<<20)).Err(); err != nil {
		t.Fatal(err)
	}
	val := strings.Repeat("x", 64<<10)
	var keys []string
	for i := 0; ; i++ {
		k := fmt.Sprintf("%sfiller:%d", prefix, i)
		if err := node.Set(ctx, k, val, 0).Err(); err != nil {
			if !strings.HasPrefix(err.Error(), "OOM") {
				t.Fatalf("filler write: %v", err)
			}
			break
		}
		keys = append(keys, k)
		if i > 10_000 {
			t.Fatal("the server never ran out of memory")
		}
	}
	if err := node.ConfigSet(ctx, "maxmemory", strconv.Itoa(UsedMemory(t, node)-24<<20)).Err(); err != nil {
		t.Fatal(err)
	}
	if err := node.Set(ctx, prefix+"small", "v", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "OOM") {
		t.Fatalf("a small write while out of memory: %v, want OOM", err)
	}
	if err := node.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING while out of memory: %v", err)
	}
	return keys
}
