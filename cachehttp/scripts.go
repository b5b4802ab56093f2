package cachehttp

import (
	_ "embed"

	"github.com/redis/go-redis/v9"
)

// The Lua scripts of the Redis backend, one file each under lua/, run with
// redis.Script (EVALSHA, EVAL on NOSCRIPT). The scripts that read entries in
// place share one parser of the entry header (lua/entry_header.lua), which
// is prepended to them here. The scripts that invalidate or store append
// their entry to the invalidation log inside the script on a single node
// (coherence.go).
var (
	//go:embed lua/entry_header.lua
	entryHeaderLua string
	//go:embed lua/store.lua
	storeLua string
	//go:embed lua/release.lua
	releaseLua string
	//go:embed lua/delete.lua
	deleteLua string
	//go:embed lua/invalidate_tag.lua
	invalidateTagLua string
	//go:embed lua/soft_purge_tag.lua
	softPurgeTagLua string
	//go:embed lua/bump_version.lua
	bumpVersionLua string

	storeScript         = redis.NewScript(storeLua)
	releaseScript       = redis.NewScript(releaseLua)
	deleteScript        = redis.NewScript(entryHeaderLua + deleteLua)
	invalidateTagScript = redis.NewScript(entryHeaderLua + invalidateTagLua)
	softPurgeTagScript  = redis.NewScript(entryHeaderLua + softPurgeTagLua)
	bumpVersionScript   = redis.NewScript(bumpVersionLua)
)
