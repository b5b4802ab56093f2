package ratelimithttp

import "errors"

var (
	// ErrInvalidOptions is wrapped by every error New and NewStore return
	// for a bad option or client; the message names the field.
	ErrInvalidOptions = errors.New("ratelimithttp: invalid options")
	// ErrBadPolicy is wrapped when a policy is invalid or a rate string
	// ("100-H") does not parse; New's errors about policies wrap it too.
	ErrBadPolicy = errors.New("ratelimithttp: invalid policy")
	// ErrKey wraps the key function's error when a request cannot be keyed.
	ErrKey = errors.New("ratelimithttp: cannot key request")
)
