package memory_test

import (
	"fmt"
	"time"

	"github.com/aura-platform/redishttp/internal/memory"
)

// Take checks several windows at once and counts a request only when every
// window has room for it.
func ExampleLimiter_Take() {
	l := memory.NewLimiter(0)
	windows := []memory.Window{
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
	locks := memory.NewKeyedMutex()
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

// Store is a byte-bounded key/value store with TTLs.
func ExampleStore() {
	s := memory.NewStore(64 << 20)
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
