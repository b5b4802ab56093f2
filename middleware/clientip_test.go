package middleware_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/aura-platform/redishttp/middleware"
)

func TestNewClientIPBadCIDR(t *testing.T) {
	for _, bad := range []string{"10.0.0.0/33", "not-an-ip", "10.0.0", "::1/129", "10.0.0.1:80", "http://10.0.0.1"} {
		t.Run(bad, func(t *testing.T) {
			c, err := middleware.NewClientIP("127.0.0.1", bad)
			if !errors.Is(err, middleware.ErrBadProxyCIDR) {
				t.Fatalf("err = %v, want ErrBadProxyCIDR", err)
			}
			if c != nil {
				t.Error("a resolver was returned with the error")
			}
		})
	}
	for _, good := range []string{"", "  ", " 10.0.0.0/8 ", "192.168.1.7", "::1", "fd00::/8", "::ffff:10.0.0.0/104", "fe80::1%eth0"} {
		if _, err := middleware.NewClientIP(good); err != nil {
			t.Errorf("NewClientIP(%q): %v", good, err)
		}
	}
}

func TestClientIPAddr(t *testing.T) {
	trusted, err := middleware.NewClientIP("10.0.0.0/8", "192.168.0.1", "fd00::/8", "::ffff:172.16.0.0/108")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		c      *middleware.ClientIP
		remote string
		xff    []string // one entry per X-Forwarded-For header line
		want   string
	}{
		{"no proxy trusted: peer", nil, "203.0.113.5:1234", []string{"1.1.1.1"}, "203.0.113.5"},
		{"zero value: peer", &middleware.ClientIP{}, "203.0.113.5:1234", []string{"1.1.1.1"}, "203.0.113.5"},
		{"spoofed XFF from untrusted peer ignored", trusted, "203.0.113.5:1234", []string{"10.0.0.1, 1.2.3.4"}, "203.0.113.5"},
		{"trusted peer, one hop", trusted, "10.0.0.2:80", []string{"198.51.100.7"}, "198.51.100.7"},
		{"trusted peer, no XFF", trusted, "10.0.0.2:80", nil, "10.0.0.2"},
		{"right to left past trusted hops", trusted, "10.0.0.2:80", []string{"6.6.6.6, 198.51.100.7, 10.9.9.9, 192.168.0.1"}, "198.51.100.7"},
		{"never the leftmost when a hop is untrusted", trusted, "10.0.0.2:80", []string{"1.1.1.1, 2.2.2.2"}, "2.2.2.2"},
		{"all trusted: leftmost trusted hop", trusted, "10.0.0.2:80", []string{"10.1.1.1, 10.2.2.2"}, "10.1.1.1"},
		{"multiple XFF headers, last is rightmost", trusted, "10.0.0.2:80", []string{"6.6.6.6, 5.5.5.5", "10.3.3.3"}, "5.5.5.5"},
		{"multiple XFF headers, untrusted in last", trusted, "10.0.0.2:80", []string{"6.6.6.6", "7.7.7.7, 10.3.3.3"}, "7.7.7.7"},
		{"malformed hop ends the walk", trusted, "10.0.0.2:80", []string{"1.1.1.1, garbage, 10.3.3.3"}, "10.3.3.3"},
		{"malformed rightmost hop", trusted, "10.0.0.2:80", []string{"1.1.1.1, not-an-ip"}, "10.0.0.2"},
		{"empty hop", trusted, "10.0.0.2:80", []string{"1.1.1.1,,"}, "10.0.0.2"},
		{"hop with port", trusted, "10.0.0.2:80", []string{"198.51.100.7:5555"}, "198.51.100.7"},
		{"IPv6 hop with port", trusted, "10.0.0.2:80", []string{"[2001:db8::9]:5555"}, "2001:db8::9"},
		{"IPv6 hop bare", trusted, "[fd00::1]:80", []string{"2001:db8::9"}, "2001:db8::9"},
		{"IPv6 zone stripped", nil, "[fe80::1%eth0]:80", nil, "fe80::1"},
		{"IPv4-mapped peer unmapped", nil, "[::ffff:203.0.113.5]:80", nil, "203.0.113.5"},
		{"IPv4-mapped peer is trusted as v4", trusted, "[::ffff:10.0.0.2]:80", []string{"198.51.100.7"}, "198.51.100.7"},
		{"IPv4-mapped hop unmapped", trusted, "10.0.0.2:80", []string{"::ffff:198.51.100.7"}, "198.51.100.7"},
		{"IPv4-mapped trusted prefix", trusted, "172.16.3.4:80", []string{"198.51.100.7"}, "198.51.100.7"},
		{"whitespace around hops", trusted, "10.0.0.2:80", []string{"  198.51.100.7  ,   10.0.0.3 "}, "198.51.100.7"},
		{"remote without port", trusted, "203.0.113.5", nil, "203.0.113.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			got := tt.c.Addr(r)
			if got.String() != tt.want {
				t.Errorf("Addr = %v, want %s", got, tt.want)
			}
		})
	}
}

func TestClientIPInvalidRemote(t *testing.T) {
	c, _ := middleware.NewClientIP("0.0.0.0/0")
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "@"
	r.Header.Set("X-Forwarded-For", "1.2.3.4")
	if a := c.Addr(r); a.IsValid() {
		t.Errorf("Addr = %v for an unparseable peer", a)
	}
	if k := c.Key(r); k != "unknown" {
		t.Errorf("Key = %q, want unknown", k)
	}
}

func TestClientIPKeyGroupsIPv6(t *testing.T) {
	// Through the resolver: two addresses of one /64 share a key.
	c, _ := middleware.NewClientIP()
	k := func(remote string) string {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		return c.Key(r)
	}
	if a, b := k("[2001:db8::1]:1"), k("[2001:db8::ffff:1]:2"); a != b {
		t.Errorf("same /64 keyed apart: %q, %q", a, b)
	}
	if a, b := k("[2001:db8::1]:1"), k("[2001:db8:0:1::1]:2"); a == b {
		t.Errorf("different /64 share key %q", a)
	}
}

// FuzzClientIP: arbitrary X-Forwarded-For text never panics and, from an
// untrusted peer, never changes the result.
func FuzzClientIP(f *testing.F) {
	f.Add("1.2.3.4", "10.0.0.1:80")
	f.Add("1.2.3.4, [::1]:80, ,,", "10.0.0.1:80")
	f.Add("::ffff:1.2.3.4%x", "[::ffff:10.0.0.1]:1")
	c, _ := middleware.NewClientIP("10.0.0.0/8", "::1")
	f.Fuzz(func(t *testing.T, xff, remote string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		got := c.Addr(r)
		_ = c.Key(r)
		peer, err := netip.ParseAddrPort(remote)
		if err == nil && !peer.Addr().Unmap().WithZone("").IsLoopback() && !netip.MustParsePrefix("10.0.0.0/8").Contains(peer.Addr().Unmap()) {
			if got != peer.Addr().Unmap().WithZone("") {
				t.Fatalf("untrusted peer %s with XFF %q resolved to %v", remote, xff, got)
			}
		}
	})
}
