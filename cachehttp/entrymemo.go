package cachehttp

import (
	"bytes"
	"hash/maphash"
	"sync/atomic"
)

// memoSlots is the size of the decoded-entry memo.
const memoSlots = 4096

// memoSlot remembers the decoded form of the last value read for one key.
type memoSlot struct {
	name string
	raw  []byte // immutable: a Redis reply or a memory-store value
	sh   *shared
}

// memo is a direct-mapped cache of decoded entries, so a hot hit does not
// decode (allocate a header map and strings) again for every request. A
// slot is reused only for the same key with byte-identical contents.
type memo struct {
	seed  maphash.Seed
	slots [memoSlots]atomic.Pointer[memoSlot]
}

func newMemo() *memo { return &memo{seed: maphash.MakeSeed()} }

func (m *memo) get(name string, raw []byte) *shared {
	s := m.slots[maphash.String(m.seed, name)%memoSlots].Load()
	if s != nil && s.name == name && bytes.Equal(s.raw, raw) {
		return s.sh
	}
	return nil
}

func (m *memo) put(name string, raw []byte, sh *shared) {
	m.slots[maphash.String(m.seed, name)%memoSlots].Store(&memoSlot{name: name, raw: raw, sh: sh})
}
