package aura

import (
	"fmt"
	"strings"
	"time"
)

// TTLClasses are the named lifetimes of the data the demo caches.
type TTLClasses struct {
	// Weather data. Default 10 minutes; CACHE_TTL_WEATHER.
	Weather time.Duration
	// News. Default 15 minutes; CACHE_TTL_NEWS.
	News time.Duration
	// Subscription status (and the aura list). Default 5 minutes;
	// CACHE_TTL_SUBSCRIPTION.
	Subscription time.Duration
	// OAuth connections. Default 10 minutes; CACHE_TTL_OAUTH.
	OAuth time.Duration
	// AI responses. Default 1 hour; CACHE_TTL_AI.
	AI time.Duration
}

// DefaultTTLClasses are the lifetimes used when no CACHE_TTL_* variable is
// set.
var DefaultTTLClasses = TTLClasses{
	Weather:      10 * time.Minute,
	News:         15 * time.Minute,
	Subscription: 5 * time.Minute,
	OAuth:        10 * time.Minute,
	AI:           time.Hour,
}

// Environment variables read by LoadTTLClasses, as Go durations ("2m",
// "90s", "1h30m").
const (
	EnvTTLWeather      = "CACHE_TTL_WEATHER"
	EnvTTLNews         = "CACHE_TTL_NEWS"
	EnvTTLSubscription = "CACHE_TTL_SUBSCRIPTION"
	EnvTTLOAuth        = "CACHE_TTL_OAUTH"
	EnvTTLAI           = "CACHE_TTL_AI"
)

// LoadTTLClasses returns DefaultTTLClasses with each class overridden by its
// variable when lookup (os.LookupEnv or a map in tests) has it set and not
// blank. A value that is not a duration of at least one millisecond is an
// error wrapping ErrConfig that names the variable.
func LoadTTLClasses(lookup func(string) (string, bool)) (TTLClasses, error) {
	t := DefaultTTLClasses
	for _, f := range []struct {
		name string
		dst  *time.Duration
	}{
		{EnvTTLWeather, &t.Weather}, {EnvTTLNews, &t.News}, {EnvTTLSubscription, &t.Subscription},
		{EnvTTLOAuth, &t.OAuth}, {EnvTTLAI, &t.AI},
	} {
		v, ok := lookup(f.name)
		if !ok || strings.TrimSpace(v) == "" {
			continue
		}
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d < time.Millisecond {
			return DefaultTTLClasses, fmt.Errorf("%w: %s=%q is not a duration of at least 1ms (e.g. \"2m\")", ErrConfig, f.name, v)
		}
		*f.dst = d
	}
	return t, nil
}
