package statshttp

import "errors"

// Errors returned by New. Check them with errors.Is.
var (
	// ErrNoAuth is returned when Options has neither a Token nor an Auth
	// middleware: the handlers are protected by default, and serving them
	// openly must be asked for explicitly (Auth: func(h http.Handler)
	// http.Handler { return h }).
	ErrNoAuth = errors.New("statshttp: no Token and no Auth middleware")
	// ErrWeakToken is returned when Options.Token is shorter than
	// MinTokenLength bytes.
	ErrWeakToken = errors.New("statshttp: token too short")
	// ErrInvalidOptions is returned (wrapped, with the field named) when an
	// Options field is out of range.
	ErrInvalidOptions = errors.New("statshttp: invalid options")
)
