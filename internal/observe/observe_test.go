package observe_test

import (
	"testing"

	"github.com/aura-platform/redishttp/internal/observe"
	"github.com/aura-platform/redishttp/middleware"
)

func TestEmit(t *testing.T) {
	var got []middleware.Event
	o := middleware.ObserverFunc(func(e middleware.Event) { got = append(got, e) })
	observe.Emit(o, middleware.CacheHit, "items")
	if len(got) != 1 || got[0] != (middleware.Event{Kind: middleware.CacheHit, Route: "items", Value: 1}) {
		t.Errorf("events %+v", got)
	}
	observe.Emit(nil, middleware.CacheHit, "x") // nil observer: no panic
}
