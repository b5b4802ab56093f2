package cachehttp

import (
	"encoding/binary"
	"hash/crc32"
)

// An entry is one value in a backend: metadata and payload in a single
// string, so a hit reads exactly one key.
//
//	0      magic 0xCA
//	1      version
//	2      len(route) (<= 255), then the route name: lua/entry_header.lua
//	       reads these first bytes to keep the per-route live-key counts right
//	...    kind ('h' HTTP response, 'd' data, 'n' negative data)
//	       stored, fresh-until, stale-until (stale-while-revalidate),
//	       error-until (stale-if-error): 4 × int64 unix milliseconds
//	       tags, vary (name, value) pairs, etag: uvarint-counted strings
//	       payload: the rest, up to the trailer
//	-4     CRC-32C of everything before it
//
// A lease placeholder (written by the read that missed, see Backend.Fetch) is
// magic 0xFE followed by the owner's token.
//
// A soft purge (softpurge.go) sets bit 7 of the version byte in place
// (SETRANGE, keeping the TTL); the checksum is computed with that bit clear,
// and the entry then decodes as no longer fresh.
const (
	entryMagic   = 0xCA
	leaseMagic   = 0xFE
	entryVersion = 1

	kindNegative = 'n'

	// purgedBit marks a soft-purged entry in the version byte.
	purgedBit = 0x80
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type entry struct {
	route    string
	kind     byte
	stored   int64 // unix ms
	fresh    int64 // fresh until
	stale    int64 // may be served stale (while revalidating) until
	errUntil int64 // may be served stale on error until
	tags     []string
	vary     []string // name, value, name, value...
	etag     string
	payload  []byte
}

// expiry is when the entry stops being usable at all: the backend TTL.
func (e *entry) expiry() int64 { return max(e.fresh, e.stale, e.errUntil) }

func (e *entry) encode() []byte {
	n := 3 + len(e.route) + 1 + 32 + 4 + len(e.payload) + len(e.etag) + 8
	for _, s := range e.tags {
		n += len(s) + 2
	}
	for _, s := range e.vary {
		n += len(s) + 2
	}
	b := make([]byte, 0, n)
	b = append(b, entryMagic, entryVersion, byte(len(e.route)))
	b = append(b, e.route...)
	b = append(b, e.kind)
	b = binary.BigEndian.AppendUint64(b, uint64(e.stored))
	b = binary.BigEndian.AppendUint64(b, uint64(e.fresh))
	b = binary.BigEndian.AppendUint64(b, uint64(e.stale))
	b = binary.BigEndian.AppendUint64(b, uint64(e.errUntil))
	b = appendStrings(b, e.tags)
	b = appendStrings(b, e.vary)
	b = binary.AppendUvarint(b, uint64(len(e.etag)))
	b = append(b, e.etag...)
	b = append(b, e.payload...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func appendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// isLease reports whether v is a lease placeholder rather than an entry.
func isLease(v []byte) bool { return len(v) > 0 && v[0] == leaseMagic }

// decodeEntry decodes v; the payload aliases v. Anything malformed or failing
// the checksum is ErrCorruptEntry.
func decodeEntry(v []byte) (entry, error) {
	var e entry
	if len(v) < 3+1+32+2+4 || v[0] != entryMagic || v[1]&^purgedBit != entryVersion {
		return e, ErrCorruptEntry
	}
	body := v[:len(v)-4]
	sum := crc32.Checksum(body, castagnoli)
	if v[1] != entryVersion { // soft-purged: checksummed with the bit clear
		sum = crc32.Update(crc32.Update(crc32.Checksum(body[:1], castagnoli), castagnoli, []byte{entryVersion}), castagnoli, body[2:])
	}
	if sum != binary.BigEndian.Uint32(v[len(v)-4:]) {
		return e, ErrCorruptEntry
	}
	rl := int(v[2])
	p := body[3:]
	if len(p) < rl+1+32 {
		return e, ErrCorruptEntry
	}
	e.route = string(p[:rl])
	p = p[rl:]
	e.kind = p[0]
	p = p[1:]
	e.stored = int64(binary.BigEndian.Uint64(p))
	e.fresh = int64(binary.BigEndian.Uint64(p[8:]))
	e.stale = int64(binary.BigEndian.Uint64(p[16:]))
	e.errUntil = int64(binary.BigEndian.Uint64(p[24:]))
	p = p[32:]
	var ok bool
	if e.tags, p, ok = readStrings(p); !ok {
		return e, ErrCorruptEntry
	}
	if e.vary, p, ok = readStrings(p); !ok || len(e.vary)%2 != 0 {
		return e, ErrCorruptEntry
	}
	l, n := binary.Uvarint(p)
	if n <= 0 || l > uint64(len(p)-n) {
		return e, ErrCorruptEntry
	}
	p = p[n:]
	e.etag = string(p[:l])
	e.payload = p[l:]
	switch e.kind {
	case kindHTTP, kindData, kindNegative:
	default:
		return e, ErrCorruptEntry
	}
	if v[1] != entryVersion {
		e.markPurged()
	}
	return e, nil
}

func readStrings(p []byte) ([]string, []byte, bool) {
	c, n := binary.Uvarint(p)
	if n <= 0 || c > uint64(len(p)) {
		return nil, p, false
	}
	p = p[n:]
	if c == 0 {
		return nil, p, true
	}
	ss := make([]string, 0, c)
	for range c {
		l, n := binary.Uvarint(p)
		if n <= 0 || l > uint64(len(p)-n) {
			return nil, p, false
		}
		ss = append(ss, string(p[n:n+int(l)]))
		p = p[n+int(l):]
	}
	return ss, p, true
}
