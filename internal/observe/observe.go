// Package observe holds the event plumbing the feature packages share: the
// one-line report of an event to an Observer that may be nil.
package observe

import "github.com/aura-platform/redishttp/middleware"

// Emit reports an event of the given kind and route to o, with Value 1; a nil
// o is a no-op, so a package without an Observer configured pays one branch.
func Emit(o middleware.Observer, kind middleware.EventKind, route string) {
	if o != nil {
		o.Observe(middleware.Event{Kind: kind, Route: route, Value: 1})
	}
}
