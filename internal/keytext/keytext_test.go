package keytext_test

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/aura-platform/redishttp/internal/keytext"
)

func TestQuery(t *testing.T) {
	r := httptest.NewRequest("GET", "/?b=2&a=x+y&a=%26", nil)
	if got, want := keytext.Query(r.URL.Query()), "a=x+y&a=%26&b=2"; got != want {
		t.Errorf("Query = %q, want %q", got, want)
	}
}

func TestAddr(t *testing.T) {
	tests := []struct{ in, want string }{
		{"203.0.113.5", "203.0.113.5"},
		{"2001:db8:aaaa:bbbb:1:2:3:4", "2001:db8:aaaa:bbbb::/64"},
		{"2001:db8:aaaa:bbbb:ffff:ffff:ffff:ffff", "2001:db8:aaaa:bbbb::/64"},
		{"2001:db8:aaaa:bbbc::1", "2001:db8:aaaa:bbbc::/64"},
		{"::1", "::/64"},
	}
	for _, tt := range tests {
		if got := keytext.Addr(netip.MustParseAddr(tt.in)); got != tt.want {
			t.Errorf("Addr(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := keytext.Addr(netip.Addr{}); got != "unknown" {
		t.Errorf("Addr(zero) = %q", got)
	}
}
