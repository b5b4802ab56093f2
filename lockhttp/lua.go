package lockhttp

import (
	_ "embed"

	"github.com/redis/go-redis/v9"
)

// The Lua scripts of lua/, each run through redis.Script.Run (EVALSHA, and
// EVAL when a node answers NOSCRIPT).
var (
	//go:embed lua/acquire.lua
	acquireSrc string
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
	raiseFenceScript  = redis.NewScript(raiseFenceSrc)
	claimScript       = redis.NewScript(claimSrc)
	completeScript    = redis.NewScript(completeSrc)
	unclaimScript     = redis.NewScript(unclaimSrc)
	extendClaimScript = redis.NewScript(extendClaimSrc)
)
