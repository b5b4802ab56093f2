package optcheck

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

var errBad = errors.New("pkg: invalid options")

func TestNilClient(t *testing.T) {
	var typed *redis.Client
	var typedCluster *redis.ClusterClient
	var iface redis.UniversalClient = typed
	real := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer real.Close()
	cases := []struct {
		name       string
		c          any
		nil, typed bool
	}{
		{"untyped nil", nil, true, false},
		{"typed nil client", iface, true, true},
		{"typed nil cluster", redis.UniversalClient(typedCluster), true, true},
		{"real client", redis.UniversalClient(real), false, false},
		{"value", 3, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := NilClient(tc.c); got != tc.nil {
				t.Errorf("NilClient = %v, want %v", got, tc.nil)
			}
			if got := TypedNil(tc.c); got != tc.typed {
				t.Errorf("TypedNil = %v, want %v", got, tc.typed)
			}
			err := Client(errBad, "client", tc.c)
			if (err != nil) != tc.typed {
				t.Fatalf("Client err = %v", err)
			}
			if err != nil && (!errors.Is(err, errBad) || !strings.Contains(err.Error(), "*redis.Client") && !strings.Contains(err.Error(), "*redis.ClusterClient")) {
				t.Errorf("error %q does not wrap the sentinel or name the type", err)
			}
		})
	}
}

func TestFieldChecks(t *testing.T) {
	if err := Duration(errBad, "CommandTimeout", -time.Second); !errors.Is(err, errBad) || !strings.Contains(err.Error(), "CommandTimeout") {
		t.Errorf("Duration: %v", err)
	}
	if err := Duration(errBad, "TTL", 0); err != nil {
		t.Errorf("zero duration rejected: %v", err)
	}
	if err := NonNegative(errBad, "MaxBytes", int64(-1)); !errors.Is(err, errBad) || !strings.Contains(err.Error(), "MaxBytes") {
		t.Errorf("NonNegative: %v", err)
	}
	for _, p := range []string{"a{b", "a}", "x*", "q?", "[a]", `a\b`, "a\nb", "a\x7f"} {
		if err := Prefix(errBad, "Prefix", p); !errors.Is(err, errBad) || !strings.Contains(err.Error(), "Prefix") {
			t.Errorf("Prefix(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"", "rl:", "app:v2:", "lock-"} {
		if err := Prefix(errBad, "Prefix", p); err != nil {
			t.Errorf("Prefix(%q) rejected: %v", p, err)
		}
	}
	if err := First(nil, Duration(errBad, "A", -1), Duration(errBad, "B", -1)); err == nil || !strings.Contains(err.Error(), "A") || strings.Contains(err.Error(), "B") {
		t.Errorf("First: %v", err)
	}
}
