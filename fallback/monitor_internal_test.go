package fallback

import (
	"strings"
	"testing"
)

func TestKeySlot(t *testing.T) {
	// Values from CLUSTER KEYSLOT.
	for tag, want := range map[string]int{"foo": 12182, "bar": 5061, "123456789": 12739, "": 0} {
		if got := keySlot(tag); got != want {
			t.Errorf("keySlot(%q) = %d, want %d", tag, got, want)
		}
	}
}

// TestClusterKeysFor: one probe key per master, each in a slot that
// master serves, however unevenly the slots are split.
func TestClusterKeysFor(t *testing.T) {
	ranges := []slotRange{
		{0, 5460, "a"}, {5461, 10922, "b"}, {10923, 16380, "c"},
		{16381, 16381, "d"}, // a master with a single slot
		{16382, 16383, "a"},
	}
	keys := clusterKeysFor("p", ranges)
	got := map[string]string{}
	for _, k := range keys {
		tag := k[strings.IndexByte(k, '{')+1 : len(k)-1]
		slot := keySlot(tag)
		for _, r := range ranges {
			if slot >= r.start && slot <= r.end {
				if prev, dup := got[r.master]; dup {
					t.Errorf("master %s probed twice: %s and %s", r.master, prev, k)
				}
				got[r.master] = k
			}
		}
	}
	if len(got) != 4 || len(keys) != 4 {
		t.Errorf("keys %v cover masters %v, want a, b, c, d once each", keys, got)
	}
	if k := clusterKeysFor("p", nil); len(k) != 1 || k[0] != "p" {
		t.Errorf("no slot map: %v", k)
	}
}
