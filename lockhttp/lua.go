package lockhttp

import (
	_ "embed"

	"github.com/redis/go-redis/v9"
)

// The Lua scripts of lua/, each run with EVALSHA, and EVAL when a node
// answers NOSCRIPT (through redis.Script.Run, or luaScript.run for the lock
// steps on one deployment).
var (
	//go:embed lua/acquire.lua
	acquireSrc string
	//go:embed lua/extend.lua
	extendSrc string
	//go:embed lua/release.lua
	releaseSrc string
	//go:embed lua/raisefence.lua
	raiseFenceSrc string
	//go:embed lua/claim.lua
	claimSrc string
	//go:embed lua/complete.lua
	completeSrc string
	//go:embed lua/unclaim.lua
	unclaimSrc string
	//go:embed lua/extendclaim.lua
	extendClaimSrc string

	acquireScript     = redis.NewScript(acquireSrc)
	extendScript      = redis.NewScript(extendSrc)
	releaseScript     = redis.NewScript(releaseSrc)
	raiseFenceScript  = redis.NewScript(raiseFenceSrc)
	claimScript       = redis.NewScript(claimSrc)
	completeScript    = redis.NewScript(completeSrc)
	unclaimScript     = redis.NewScript(unclaimSrc)
	extendClaimScript = redis.NewScript(extendClaimSrc)
)
