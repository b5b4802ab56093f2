package lockhttp

import (
	_ "embed"

	"github.com/redis/go-redis/v9"
)

var (
	//go:embed scripts/acquire.lua
	acquireSrc string
	//go:embed scripts/raisefence.lua
	raiseFenceSrc string
	//go:embed scripts/claim.lua
	claimSrc string
	//go:embed scripts/complete.lua
	completeSrc string
	//go:embed scripts/unclaim.lua
	unclaimSrc string
	//go:embed scripts/extendclaim.lua
	extendClaimSrc string

	acquireScript     = redis.NewScript(acquireSrc)
	raiseFenceScript  = redis.NewScript(raiseFenceSrc)
	claimScript       = redis.NewScript(claimSrc)
	completeScript    = redis.NewScript(completeSrc)
	unclaimScript     = redis.NewScript(unclaimSrc)
	extendClaimScript = redis.NewScript(extendClaimSrc)
)
