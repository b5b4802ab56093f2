package statshttp

import "errors"

// ErrInvalidOptions is returned by New (wrapped, naming the field) when an
// Options field is out of range, when Token is shorter than 16 bytes, and
// when Options has neither a Token nor an Auth middleware: the handlers are
// protected by default, and serving them openly must be asked for
// explicitly (Auth: func(h http.Handler) http.Handler { return h }).
var ErrInvalidOptions = errors.New("statshttp: invalid options")
