package memory

import (
	"context"
	"sync"
)

// KeyedMutex is a process-local mutex per key, the lock backend of embedded
// mode. Entries are removed when unlocked and nobody waits, so memory is
// bounded by the number of keys held at once. It gives no protection across
// processes: lockhttp uses it only when told to.
type KeyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	ch      chan struct{} // buffered(1): a token in it means unlocked
	waiters int
}

// NewKeyedMutex returns an empty KeyedMutex.
func NewKeyedMutex() *KeyedMutex { return &KeyedMutex{m: make(map[string]*keyLock)} }

func (k *KeyedMutex) ref(key string) *keyLock {
	k.mu.Lock()
	defer k.mu.Unlock()
	l, ok := k.m[key]
	if !ok {
		l = &keyLock{ch: make(chan struct{}, 1)}
		l.ch <- struct{}{}
		k.m[key] = l
	}
	l.waiters++
	return l
}

func (k *KeyedMutex) unref(key string, l *keyLock) {
	k.mu.Lock()
	defer k.mu.Unlock()
	l.waiters--
	if l.waiters == 0 {
		delete(k.m, key)
	}
}

func (k *KeyedMutex) unlocker(key string, l *keyLock) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			l.ch <- struct{}{}
			k.unref(key, l)
		})
	}
}

// TryLock takes key's lock if it is free. It returns the unlock function and
// true, or nil and false when another holder has it. Unlock is idempotent.
func (k *KeyedMutex) TryLock(key string) (unlock func(), ok bool) {
	l := k.ref(key)
	select {
	case <-l.ch:
		return k.unlocker(key, l), true
	default:
		k.unref(key, l)
		return nil, false
	}
}

// Lock waits for key's lock until ctx is done, returning ctx's error then.
func (k *KeyedMutex) Lock(ctx context.Context, key string) (unlock func(), err error) {
	l := k.ref(key)
	select {
	case <-l.ch:
		return k.unlocker(key, l), nil
	case <-ctx.Done():
		k.unref(key, l)
		return nil, ctx.Err()
	}
}

// Held reports whether key is locked now.
func (k *KeyedMutex) Held(key string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	l, ok := k.m[key]
	return ok && len(l.ch) == 0
}
