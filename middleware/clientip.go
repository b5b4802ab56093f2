package middleware

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/aura-platform/redishttp/internal/keytext"
)

// ErrBadProxyCIDR is returned by NewClientIP for a trusted proxy entry that is
// neither a CIDR prefix nor an IP address.
var ErrBadProxyCIDR = errors.New("middleware: invalid trusted proxy")

// ClientIP resolves the address of the client that sent a request, looking
// through X-Forwarded-For only as far as the proxies it was told to trust.
//
// It starts from the TCP peer (r.RemoteAddr). While that address is a trusted
// proxy it steps one entry left in X-Forwarded-For, from the right end, and
// stops at the first address that is not trusted. It never takes the leftmost
// entry on faith: anything a client writes there is only reached when every
// hop to its right is trusted. The zero value trusts nobody and so returns the
// TCP peer.
//
// Do not put a middleware that rewrites r.RemoteAddr from request headers in
// front of a ClientIP, or of the packages that use one (ratelimithttp,
// statshttp's limit on failed authentication), such as chi's
// middleware.RealIP or gorilla's handlers.ProxyHeaders. Such a middleware
// copies True-Client-IP, X-Real-IP or the leftmost X-Forwarded-For entry,
// which any client writes as it likes, into RemoteAddr; the TCP peer is then
// lost, the trusted-proxy check runs on an address the client chose, and
// every spoofed request gets a rate-limit bucket of its own. Remove it, and
// give NewClientIP the CIDRs of your load balancers instead:
//
//	ips, err := middleware.NewClientIP("10.0.0.0/8") // your proxies, nothing else
//	// r.Use(chimw.RealIP)  ← not with ClientIP
//	limiter, err := ratelimithttp.New(client, ratelimithttp.Options{ClientIP: ips, ...})
//
// Use ClientIP.Addr where the handler needs the client address (logging).
type ClientIP struct {
	trusted []netip.Prefix
}

// NewClientIP returns a resolver that trusts the given proxies, each a CIDR
// prefix ("10.0.0.0/8") or a single address ("127.0.0.1"). List only the
// proxies that overwrite or append to X-Forwarded-For themselves; with none,
// the TCP peer is the client. Keep header-rewriting middleware such as chi's
// RealIP out of the chain (see ClientIP).
func NewClientIP(trustedProxies ...string) (*ClientIP, error) {
	c := &ClientIP{}
	for _, s := range trustedProxies {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			// Addresses are unmapped before matching, so an IPv4-mapped
			// prefix ("::ffff:10.0.0.0/104") must become its IPv4 form
			// ("10.0.0.0/8") or it would never match anything.
			if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
			}
			c.trusted = append(c.trusted, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %q", ErrBadProxyCIDR, s)
		}
		a = a.WithZone("").Unmap()
		c.trusted = append(c.trusted, netip.PrefixFrom(a, a.BitLen()))
	}
	return c, nil
}

func (c *ClientIP) isTrusted(a netip.Addr) bool {
	if c == nil {
		return false
	}
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Addr returns the client's address for r. The result is invalid (IsValid
// false) only when r.RemoteAddr cannot be parsed, as with some test requests.
func (c *ClientIP) Addr(r *http.Request) netip.Addr {
	peer := parseHostAddr(r.RemoteAddr)
	if !peer.IsValid() || !c.isTrusted(peer) {
		return peer
	}
	addr := peer
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a := parseHostAddr(strings.TrimSpace(parts[j]))
			if !a.IsValid() {
				// A malformed hop ends the walk: what lies left of it is
				// not vouched for by anyone we trust.
				return addr
			}
			addr = a
			if !c.isTrusted(a) {
				return a
			}
		}
	}
	return addr
}

// Key returns a stable key for rate limiting and caching: the client address
// as text, with IPv6 addresses grouped by their /64 prefix (one subscriber
// usually owns a whole /64, so keying single v6 addresses lets a client rotate
// through billions of keys). It returns "unknown" when no address is known.
func (c *ClientIP) Key(r *http.Request) string {
	return keytext.Addr(c.Addr(r))
}

// parseHostAddr parses "ip", "ip:port" or "[ipv6]:port" and unmaps IPv4-mapped
// IPv6 addresses. It returns the zero Addr on failure.
func parseHostAddr(s string) netip.Addr {
	if s == "" {
		return netip.Addr{}
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.WithZone("").Unmap()
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		if a, err := netip.ParseAddr(host); err == nil {
			return a.WithZone("").Unmap()
		}
	}
	return netip.Addr{}
}
