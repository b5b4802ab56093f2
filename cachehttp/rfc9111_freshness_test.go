package cachehttp

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
)

// Freshness, parsing, statuses, request directives, stale-if-error,
// Authorization and targeted cache control (RFC 9213) of the RFC 9111 mode
// behind an httputil.ReverseProxy. Each case names the section it checks
// and, in brackets, the behaviour of the HTTP cache conformance corpus it
// follows. A step advances the test clock to "at" after the first request
// and expects an X-Cache value; HIT and STALE must not reach the origin,
// MISS and BYPASS must (except a 504 for only-if-cached, which never does).
func TestRFC9111Freshness(t *testing.T) {
	type step struct {
		at   time.Duration
		req  []string // request headers
		want string   // X-Cache
		code int      // expected status, when not 0
		fail string   // the origin answers "503", or "close"s the connection
		cond bool     // forwarded as a validation, answered 304
		bg   bool     // served stale while a background refresh reaches the origin
	}
	type tcase struct {
		rule      string
		status    int
		hdr       func(date time.Time) [][2]string
		first     []string // headers of the first request
		firstWant string   // X-Cache of the first request; default MISS
		firstCode int
		wantHdr   [2]string // a header the first response must carry
		wantAuth  string    // the Authorization the origin must see first
		steps     []step
	}
	httpDate := func(t time.Time) string { return t.UTC().Format(http.TimeFormat) }
	lines := func(kv ...string) func(time.Time) [][2]string {
		return func(time.Time) [][2]string {
			var out [][2]string
			for i := 0; i+1 < len(kv); i += 2 {
				out = append(out, [2]string{kv[i], kv[i+1]})
			}
			return out
		}
	}
	cc := func(v string) func(time.Time) [][2]string { return lines("Cache-Control", v) }
	withDate := func(f func(d time.Time) [][2]string) func(time.Time) [][2]string { return f }
	const hour = time.Hour
	s := time.Second
	hit := func(at time.Duration, req ...string) step { return step{at: at, req: req, want: "HIT"} }
	miss := func(at time.Duration, req ...string) step { return step{at: at, req: req, want: "MISS"} }
	byp := func(at time.Duration, req ...string) step { return step{at: at, req: req, want: "BYPASS"} }
	stale := func(at time.Duration, req ...string) step { return step{at: at, req: req, want: "STALE"} }
	cases := []tcase{
		// Cache-Control parsing (§5.2, §4.2.1, §1.2.2).
		{rule: "§5.2 quoted max-age [freshness-max-age-quoted]", hdr: cc(`max-age="3600"`), steps: []step{hit(10 * s)}},
		{rule: "§5.2 single-quoted max-age is invalid [freshness-max-age-single-quoted]", hdr: cc(`max-age='3600'`), steps: []step{miss(0)}},
		{rule: "§5.2 max-age inside a quoted string [freshness-max-age-ignore-quoted]", hdr: cc(`extension="max-age=100", max-age=1`),
			steps: []step{miss(2 * s)}},
		{rule: "§5.2 max-age inside a quoted string after [freshness-max-age-ignore-quoted-rev]", hdr: cc(`max-age=1, extension="max-age=100"`),
			steps: []step{miss(2 * s)}},
		{rule: "§5.2 quoted values everywhere [freshness-max-age-ignore-quoted-all]", hdr: cc(`extension="max-age=100", max-age="1"`),
			steps: []step{miss(2 * s)}},
		{rule: "§5.2 space before = [freshness-max-age-space-before-equals]", hdr: cc("max-age =100"), steps: []step{miss(0)}},
		{rule: "§5.2 space after = [freshness-max-age-space-after-equals]", hdr: cc("max-age= 100"), steps: []step{miss(0)}},
		{rule: "§5.2.2.1 max-age=0 [freshness-max-age-0]", hdr: cc("max-age=0"), steps: []step{miss(0)}},
		{rule: "§1.2.2 leading alpha [freshness-max-age-a100]", hdr: cc("max-age=a100"), steps: []step{miss(0)}},
		{rule: "§1.2.2 trailing alpha [freshness-max-age-100a]", hdr: cc("max-age=100a"), steps: []step{miss(0)}},
		{rule: "§1.2.2 negative [freshness-max-age-negative]", hdr: cc("max-age=-100"), steps: []step{miss(0)}},
		{rule: "§1.2.2 fractional is not delta-seconds [freshness-max-age-decimal-zero]", hdr: cc("max-age=3600.0"), steps: []step{miss(0)}},
		{rule: "§1.2.2 2^31 [freshness-max-age-max]", hdr: cc("max-age=2147483648"), steps: []step{hit(1000 * hour)}},
		{rule: "§1.2.2 beyond 2^31 [freshness-max-age-max-plus]", hdr: cc("max-age=99999999999"), steps: []step{hit(1000 * hour)}},
		{rule: "§1.2.2 leading zeros [freshness-max-age-leading-zero]", hdr: cc("max-age=003600"),
			steps: []step{hit(3598 * s), miss(3601 * s)}},
		{rule: "§5.2 names are case-insensitive [freshness-max-age-case-insenstive]", hdr: cc("MaX-aGe=3600"), steps: []step{hit(10 * s)}},
		{rule: "§5.2.3 unknown extensions are ignored [freshness-max-age-extension]", hdr: cc("foobar, max-age=3600"), steps: []step{hit(10 * s)}},
		{rule: "§4.2.1 conflicting duplicates make it stale [freshness-max-age-two-fresh-stale-sameline]", hdr: cc("max-age=1800, max-age=1"),
			steps: []step{miss(0)}},
		{rule: "§4.2.1 conflicting duplicates on two lines [freshness-max-age-two-stale-fresh-sepline]",
			hdr: lines("Cache-Control", "max-age=1", "Cache-Control", "max-age=1800"), steps: []step{miss(0)}},
		{rule: "§4.2.1 identical duplicates agree", hdr: lines("Cache-Control", "max-age=60", "Cache-Control", "max-age=60"),
			steps: []step{hit(30 * s)}},
		{rule: "§4.2.1 s-maxage over longer max-age on two lines [freshness-max-age-s-maxage-shared-longer-multiple]",
			hdr: lines("Cache-Control", "max-age=3600", "Cache-Control", "s-maxage=1"), steps: []step{miss(2 * s)}},
		{rule: "§4.2.1 s-maxage over shorter max-age [freshness-max-age-s-maxage-shared-shorter]", hdr: cc("max-age=1, s-maxage=3600"),
			steps: []step{hit(10 * s)}},

		// Age (§5.1, §4.2.3).
		{rule: "§4.2.3 Age beyond max-age [freshness-max-age-age]", hdr: lines("Cache-Control", "max-age=10", "Age", "15"), steps: []step{miss(0)}},
		{rule: "§5.1 list-valued Age: the first member [age-parse-suffix]", hdr: lines("Cache-Control", "max-age=3600", "Age", "7200, 0"),
			steps: []step{miss(0)}},
		{rule: "§5.1 two Age lines: the first [age-parse-prefix-twoline]", hdr: lines("Cache-Control", "max-age=3600", "Age", "0", "Age", "7200"),
			steps: []step{hit(10 * s)}},
		{rule: "§5.1 non-numeric Age is ignored [age-parse-nonnumeric]", hdr: lines("Cache-Control", "max-age=3600", "Age", "abc"),
			steps: []step{hit(10 * s)}},
		{rule: "§5.1 negative Age is ignored [age-parse-negative]", hdr: lines("Cache-Control", "max-age=3600", "Age", "-7200"),
			steps: []step{hit(10 * s)}},
		{rule: "§5.1 fractional Age is ignored [age-parse-float]", hdr: lines("Cache-Control", "max-age=3600", "Age", "7200.0"),
			steps: []step{hit(10 * s)}},

		// Expires (§5.3, RFC 9110 §5.6.7).
		{rule: "§5.3 IMF-fixdate Expires [freshness-expires-future]", hdr: withDate(func(d time.Time) [][2]string {
			return [][2]string{{"Expires", httpDate(d.Add(60 * s))}}
		}), steps: []step{hit(50 * s), miss(61 * s)}},
		{rule: "§5.3 RFC 850 Expires (RFC 9110 §5.6.7 obsolete form)", hdr: withDate(func(d time.Time) [][2]string {
			return [][2]string{{"Expires", d.Add(60 * s).UTC().Format("Monday, 02-Jan-06 15:04:05 GMT")}}
		}), steps: []step{hit(50 * s)}},
		{rule: "§5.3 asctime Expires (RFC 9110 §5.6.7 obsolete form)", hdr: withDate(func(d time.Time) [][2]string {
			return [][2]string{{"Expires", d.Add(60 * s).UTC().Format(time.ANSIC)}}
		}), steps: []step{hit(50 * s)}},
		{rule: "§5.3 a far Expires", hdr: lines("Expires", "Thu, 18 Aug 2050 02:01:18 GMT"), steps: []step{hit(hour)}},
		{rule: "§5.6.7 a robust recipient reads names without regard to case [freshness-expires-wrong-case-weekday]", hdr: lines("Expires", "THU, 18 Aug 2050 02:01:18 GMT"),
			steps: []step{hit(10 * s)}},
		{rule: "§5.6.7 month name case [freshness-expires-wrong-case-month]", hdr: lines("Expires", "Thu, 18 AUG 2050 02:01:18 GMT"),
			steps: []step{hit(10 * s)}},
		{rule: "§5.6.7 zone name case [freshness-expires-wrong-case-tz]", hdr: lines("Expires", "Thu, 18 Aug 2050 02:01:18 gMT"),
			steps: []step{hit(10 * s)}},
		{rule: "§5.6.7 asctime, weekday not checked [freshness-expires-ansi-c]", hdr: lines("Expires", "Thu Aug  8 02:01:18 2050"),
			steps: []step{hit(10 * s)}},
		{rule: "§5.3 UTC is not GMT [freshness-expires-invalid-utc]", hdr: lines("Expires", "Thu, 18 Aug 2050 02:01:18 UTC"), steps: []step{miss(0)}},
		{rule: "§5.3 two-digit year in IMF-fixdate [freshness-expires-invalid-2-digit-year]", hdr: lines("Expires", "Thu, 18 Aug 50 02:01:18 GMT"),
			steps: []step{miss(0)}},
		{rule: "§5.3 missing comma [freshness-expires-invalid-no-comma]", hdr: lines("Expires", "Thu 18 Aug 2050 02:01:18 GMT"), steps: []step{miss(0)}},
		{rule: "§5.3 extra spaces [freshness-expires-invalid-multiple-spaces]", hdr: lines("Expires", "Thu, 18  Aug  2050 02:01:18 GMT"),
			steps: []step{miss(0)}},
		{rule: "§5.3 date dashes [freshness-expires-invalid-date-dashes]", hdr: lines("Expires", "Thu, 18-Aug-2050 02:01:18 GMT"), steps: []step{miss(0)}},
		{rule: "§5.3 time periods [freshness-expires-invalid-time-periods]", hdr: lines("Expires", "Thu, 18 Aug 2050 02.01.18 GMT"), steps: []step{miss(0)}},
		{rule: "§5.3 one-digit hour [freshness-expires-invalid-1-digit-hour]", hdr: lines("Expires", "Thu, 18 Aug 2050 2:01:18 GMT"), steps: []step{miss(0)}},
		{rule: "§5.6.7 a wrong weekday is redundant, not fatal", hdr: lines("Expires", "Fri, 18 Aug 2050 02:01:18 GMT"), steps: []step{hit(10 * s)}},
		{rule: "§5.3 max-age overrides an invalid Expires [freshness-max-age-expires-invalid]",
			hdr: lines("Cache-Control", "max-age=3600", "Expires", "0"), steps: []step{hit(10 * s)}},
		{rule: "§5.3 max-age=0 overrides a future Expires [freshness-max-age-0-expires]",
			hdr: lines("Cache-Control", "max-age=0", "Expires", "Thu, 18 Aug 2050 02:01:18 GMT"), steps: []step{miss(0)}},

		// Statuses (§3, §4.2.2).
		{rule: "§3 302 with explicit freshness [status-302-fresh]", status: 302, hdr: lines("Cache-Control", "max-age=60", "Location", "/x"),
			steps: []step{hit(10 * s), miss(61 * s)}},
		{rule: "§3 307 with explicit freshness [status-307-fresh]", status: 307, hdr: lines("Cache-Control", "max-age=60", "Location", "/x"),
			steps: []step{hit(10 * s)}},
		{rule: "§3 400 with explicit freshness [status-400-fresh]", status: 400, hdr: cc("max-age=60"), steps: []step{hit(10 * s)}},
		{rule: "§3 500 with explicit freshness [status-500-fresh]", status: 500, hdr: cc("max-age=60"),
			steps: []step{{at: 10 * s, want: "HIT", code: 500}, miss(61 * s)}},
		{rule: "§3 503 with explicit freshness [status-503-fresh]", status: 503, hdr: cc("max-age=60"), steps: []step{hit(10 * s)}},
		{rule: "§3 an unknown status with explicit freshness [status-299-fresh]", status: 299, hdr: cc("max-age=60"), steps: []step{hit(10 * s)}},
		{rule: "§4.2.2 302 is not heuristically cacheable", status: 302, hdr: func(d time.Time) [][2]string {
			return [][2]string{{"Last-Modified", httpDate(d.Add(-hour))}, {"Location", "/x"}}
		}, steps: []step{miss(0)}},
		{rule: "§4.2.2 405 is heuristically cacheable", status: 405, hdr: func(d time.Time) [][2]string {
			return [][2]string{{"Last-Modified", httpDate(d.Add(-hour))}}
		}, steps: []step{hit(10 * s)}},
		{rule: "§3 206 passes through, never stored", status: 206, hdr: cc("max-age=60"), steps: []step{miss(0)}},
		{rule: "§5.2.2.3 must-understand overrides no-store for an understood status", hdr: cc("max-age=60, must-understand, no-store"),
			steps: []step{hit(10 * s)}},
		{rule: "§5.2.2.3 must-understand with a status not understood", status: 299, hdr: cc("max-age=60, must-understand, no-store"),
			steps: []step{miss(0)}},

		// Request directives (§5.2.1, §5.4).
		{rule: "§5.2.1.1 request max-age=0 [ccreq-ma0]", hdr: cc("max-age=3600"), steps: []step{byp(2*s, "Cache-Control", "max-age=0"), hit(3 * s)}},
		{rule: "§5.2.1.1 request max-age below the Age [ccreq-magreaterage]", hdr: lines("Cache-Control", "max-age=3600", "Age", "1800"),
			steps: []step{byp(0, "Cache-Control", "max-age=600"), hit(0, "Cache-Control", "max-age=3000")}},
		{rule: "§5.2.1.2 max-stale serves stale [ccreq-max-stale]", hdr: cc("max-age=1"),
			steps: []step{stale(10*s, "Cache-Control", "max-stale=1000"), stale(20*s, "Cache-Control", "max-stale"), miss(30 * s)}},
		{rule: "§5.2.1.2 max-stale with an aged response [ccreq-max-stale-age]", hdr: lines("Cache-Control", "max-age=1500, stale-if-error=3600", "Age", "2000"),
			steps: []step{stale(0, "Cache-Control", "max-stale=1000")}},
		{rule: "§5.2.1.2 max-stale bound", hdr: cc("max-age=1"), steps: []step{byp(10*s, "Cache-Control", "max-stale=5")}},
		{rule: "§5.2.2.2 max-stale never overrides must-revalidate", hdr: cc("max-age=1, must-revalidate"),
			steps: []step{byp(10*s, "Cache-Control", "max-stale=1000")}},
		{rule: "§5.2.1.3 min-fresh [ccreq-min-fresh]", hdr: cc("max-age=1500"),
			steps: []step{byp(0, "Cache-Control", "min-fresh=2000"), hit(0, "Cache-Control", "min-fresh=1000")}},
		{rule: "§5.2.1.3 min-fresh with Age [ccreq-min-fresh-age]", hdr: lines("Cache-Control", "max-age=1500", "Age", "1000"),
			steps: []step{byp(0, "Cache-Control", "min-fresh=1000"), hit(0, "Cache-Control", "min-fresh=100")}},
		{rule: "§5.2.1.4 request no-cache forwards and stores [ccreq-no-cache]", hdr: cc("max-age=3600"),
			steps: []step{byp(0, "Cache-Control", "no-cache"), hit(0)}},
		{rule: "§5.2.1.4 request no-cache validates with the ETag [ccreq-no-cache-etag]", hdr: lines("Cache-Control", "max-age=3600", "ETag", `"abc"`),
			steps: []step{{at: 0, req: []string{"Cache-Control", "no-cache"}, want: "HIT", code: 200, cond: true}, hit(s)}},
		{rule: "§5.2.1.4 request no-cache validates with Last-Modified [ccreq-no-cache-lm]", hdr: func(d time.Time) [][2]string {
			return [][2]string{{"Cache-Control", "max-age=3600"}, {"Last-Modified", httpDate(d.Add(-10000 * s))}}
		}, steps: []step{{at: 0, req: []string{"Cache-Control", "no-cache"}, want: "HIT", code: 200, cond: true}}},
		{rule: "§5.2.1.1 request max-age=0 validates [ccreq-ma0]", hdr: lines("Cache-Control", "max-age=3600", "ETag", `"abc"`),
			steps: []step{{at: 5 * s, req: []string{"Cache-Control", "max-age=0"}, want: "HIT", code: 200, cond: true}}},
		{rule: "§5.4 Pragma: no-cache without Cache-Control [pragma-request-no-cache]", hdr: cc("max-age=3600"),
			steps: []step{byp(0, "Pragma", "no-cache"), hit(0, "Pragma", "no-cache", "Cache-Control", "foo"), hit(0, "Pragma", "unrecognised-extension")}},
		{rule: "§5.2.1.5 request no-store stores nothing [ccreq-no-store]", hdr: cc("max-age=3600"),
			first: []string{"Cache-Control", "no-store"}, firstWant: "BYPASS", steps: []step{miss(0), hit(1*s, "Cache-Control", "no-store, only-if-cached")}},
		{rule: "§5.2.1.7 only-if-cached with nothing stored: 504, never forwarded [ccreq-oic]", hdr: cc("max-age=3600"),
			first: []string{"Cache-Control", "only-if-cached"}, firstWant: "MISS", firstCode: 504, steps: []step{miss(0), hit(0, "Cache-Control", "only-if-cached")}},
		{rule: "§5.2.1.7 only-if-cached with a stale response", hdr: cc("max-age=10"),
			steps: []step{{at: 20 * s, req: []string{"Cache-Control", "only-if-cached"}, want: "MISS", code: 504}}},

		// Stale responses (§4.2.4, RFC 5861).
		{rule: "RFC 5861 §4 stale-if-error on a 503 [stale-sie-503]", hdr: cc("max-age=2, stale-if-error=60"),
			steps: []step{{at: 10 * s, want: "STALE", code: 200, fail: "503"}}},
		{rule: "RFC 5861 §4 stale-if-error when the origin closes the connection [stale-sie-close]", hdr: cc("max-age=2, stale-if-error=60"),
			steps: []step{{at: 10 * s, want: "STALE", code: 200, fail: "close"}}},
		{rule: "RFC 5861 §4 stale-if-error window over", hdr: cc("max-age=2, stale-if-error=60"),
			steps: []step{{at: 70 * s, want: "MISS", code: 503, fail: "503"}}},
		{rule: "§5.2.2.2 must-revalidate forbids stale-if-error [stale-close-must-revalidate]", hdr: cc("max-age=2, must-revalidate, stale-if-error=60"),
			steps: []step{{at: 10 * s, want: "MISS", code: 503, fail: "503"}}},
		{rule: "§5.2.2.8 proxy-revalidate forbids stale-if-error [stale-close-proxy-revalidate]", hdr: cc("max-age=2, proxy-revalidate, stale-if-error=60"),
			steps: []step{{at: 10 * s, want: "MISS", code: 502, fail: "close"}}},
		{rule: "RFC 5861 §3 stale-while-revalidate kept", hdr: cc("max-age=2, stale-while-revalidate=60"),
			steps: []step{{at: 10 * s, want: "STALE", bg: true}, hit(11 * s)}},
		{rule: "§5.2.1.7 only-if-cached within stale-while-revalidate", hdr: cc("max-age=2, stale-while-revalidate=60"),
			steps: []step{{at: 10 * s, req: []string{"Cache-Control", "only-if-cached"}, want: "STALE", bg: true}}},
		{rule: "§5.2.1.1 request max-age does not take stale-while-revalidate", hdr: cc("max-age=2, stale-while-revalidate=60"),
			steps: []step{byp(10*s, "Cache-Control", "max-age=100")}},

		// Authorization (§3.5).
		{rule: "§3.5 not reused without public, s-maxage or must-revalidate [other-authorization]", hdr: withDate(func(d time.Time) [][2]string {
			return [][2]string{{"Expires", httpDate(d.Add(30 * 24 * hour))}}
		}), first: []string{"Authorization", "FOO"}, wantAuth: "FOO", steps: []step{miss(10 * s)}},
		{rule: "§3.5 public [other-authorization-public]", hdr: cc("max-age=3600, public"), first: []string{"Authorization", "FOO"}, wantAuth: "FOO",
			steps: []step{hit(10 * s)}},
		{rule: "§3.5 must-revalidate [other-authorization-must-revalidate]", hdr: cc("max-age=3600, must-revalidate"),
			first: []string{"Authorization", "FOO"}, wantAuth: "FOO", steps: []step{hit(10 * s)}},
		{rule: "§3.5 s-maxage [other-authorization-smaxage]", hdr: cc("s-maxage=3600"), first: []string{"Authorization", "FOO"}, wantAuth: "FOO",
			steps: []step{hit(10 * s), hit(20*s, "Authorization", "BAR")}},

		// Targeted cache control (RFC 9213).
		{rule: "RFC 9213 §2.1 max-age [cdn-max-age]", hdr: lines("CDN-Cache-Control", "max-age=3600"), steps: []step{hit(10 * s)}},
		{rule: "RFC 9213 §2.1 2^31 [cdn-max-age-max]", hdr: lines("CDN-Cache-Control", "max-age=2147483648"), steps: []step{hit(1000 * hour)}},
		{rule: "RFC 9213 §2.1 beyond 2^31 [cdn-max-age-max-plus]", hdr: lines("CDN-Cache-Control", "max-age=99999999999"), steps: []step{hit(1000 * hour)}},
		{rule: "RFC 9213 §2.1 Age counts [cdn-max-age-age]", hdr: lines("CDN-Cache-Control", "max-age=3600", "Age", "7200"), steps: []step{miss(0)}},
		{rule: "RFC 9213 §2.1 space before = invalidates the field [cdn-max-age-space-before-equals]",
			hdr: lines("Cache-Control", "max-age=1", "CDN-Cache-Control", "max-age =100"), steps: []step{miss(2 * s)}},
		{rule: "RFC 9213 §2.1 space after = invalidates the field [cdn-max-age-space-after-equals]",
			hdr: lines("Cache-Control", "max-age=1", "CDN-Cache-Control", "max-age= 100"), steps: []step{miss(2 * s)}},
		{rule: "RFC 9213 §2.1 max-age=0 [cdn-max-age-0]", hdr: lines("CDN-Cache-Control", "max-age=0"), steps: []step{miss(0)}},
		{rule: "RFC 9213 §2.1 extension [cdn-max-age-extension]", hdr: lines("CDN-Cache-Control", "foobar, max-age=3600"), steps: []step{hit(10 * s)}},
		{rule: "RFC 9213 §2.1 key case [cdn-max-age-case-insensitive]", hdr: lines("CDN-Cache-Control", "MaX-aGe=3600"), steps: []step{hit(10 * s)}},
		{rule: "RFC 9213 §2.1 Expires ignored [cdn-max-age-expires]", hdr: withDate(func(d time.Time) [][2]string {
			return [][2]string{{"CDN-Cache-Control", "max-age=3600"}, {"Expires", httpDate(d.Add(-10000 * s))}}
		}), steps: []step{hit(10 * s)}},
		{rule: "RFC 9213 §2.1 invalid Expires ignored [cdn-max-age-cc-max-age-invalid-expires]",
			hdr: lines("CDN-Cache-Control", "max-age=3600", "Expires", "0"), steps: []step{hit(10 * s)}},
		{rule: "RFC 9213 §2.1 max-age=0 over a future Expires [cdn-max-age-0-expires]",
			hdr: lines("CDN-Cache-Control", "max-age=0", "Expires", "Thu, 18 Aug 2050 02:01:18 GMT"), steps: []step{miss(0)}},
		{rule: "RFC 9213 §2.1 long targeted over short Cache-Control [cdn-max-age-short-cc-max-age]",
			hdr: lines("Cache-Control", "max-age=1", "CDN-Cache-Control", "max-age=3600"), steps: []step{hit(10 * s)}},
		{rule: "RFC 9213 §2.1 short targeted over long Cache-Control [cdn-max-age-long-cc-max-age]",
			hdr: lines("Cache-Control", "max-age=3600", "CDN-Cache-Control", "max-age=1"), steps: []step{miss(2 * s)}},
		{rule: "RFC 9213 §2.1 private [cdn-private]", hdr: lines("CDN-Cache-Control", "private", "Cache-Control", "max-age=10000",
			"Expires", "Thu, 18 Aug 2050 02:01:18 GMT"), steps: []step{miss(0)}},
		{rule: "RFC 9213 §2.1 no-cache [cdn-no-cache]", hdr: lines("CDN-Cache-Control", "no-cache", "Cache-Control", "max-age=10000"), steps: []step{miss(0)}},
		{rule: "RFC 9213 §2.1 no-store [cdn-no-store-cc-fresh]", hdr: lines("Cache-Control", "max-age=10000", "CDN-Cache-Control", "no-store"),
			steps: []step{miss(0)}},
		{rule: "RFC 9213 §2.1 fresh targeted over Cache-Control no-store [cdn-fresh-cc-nostore]",
			hdr: lines("Cache-Control", "no-store", "CDN-Cache-Control", "max-age=10000"), steps: []step{hit(10 * s)}},
		{rule: "RFC 9213 §2.1 invalid dictionary ignored [cdn-cc-invalid-sh-type-unknown]",
			hdr: lines("CDN-Cache-Control", "max-age=10000, &&&&&", "Cache-Control", "no-store"), steps: []step{miss(0)}},
		{rule: "RFC 9213 §2.1 wrong type ignored [cdn-cc-invalid-sh-type-wrong]",
			hdr: lines("CDN-Cache-Control", `max-age="10000"`, "Cache-Control", "no-store"), steps: []step{miss(0)}},
		{rule: "RFC 9213 §2.1 the field goes downstream [cdn-remove-header]", hdr: lines("Cache-Control", "max-age=10000", "CDN-Cache-Control", "foo"),
			wantHdr: [2]string{"CDN-Cache-Control", "foo"}, steps: []step{miss(10 * s)}}, // "foo" is valid: no lifetime

		{rule: "RFC 9213 §2.2 the most specific field first",
			hdr: lines("Acme-CDN-Cache-Control", "max-age=3600", "CDN-Cache-Control", "max-age=1"), steps: []step{hit(10 * s)}},
		{rule: "RFC 9213 §2.2 an invalid specific field falls back to the next",
			hdr:   lines("Acme-CDN-Cache-Control", "max-age=-1", "CDN-Cache-Control", "max-age=1", "Cache-Control", "max-age=3600"),
			steps: []step{miss(2 * s)}},
		{rule: "RFC 9213 §2.1 targeted public lets Authorization share", hdr: lines("CDN-Cache-Control", "public, max-age=3600", "Cache-Control", "private"),
			first: []string{"Authorization", "FOO"}, wantAuth: "FOO", steps: []step{hit(10 * s)}},
	}
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := newTestCache(t, tg.Client, tg.Prefix, Options{})
		clk := newClock()
		setClock(c, clk)
		var mu sync.Mutex
		current := map[string]tcase{}
		hits := map[string]int{}
		fail := map[string]string{}
		auth := map[string]string{}
		conds := map[string]int{}
		origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			tc, f := current[r.URL.Path], fail[r.URL.Path]
			hits[r.URL.Path]++
			if _, seen := auth[r.URL.Path]; !seen {
				auth[r.URL.Path] = r.Header.Get("Authorization")
			}
			mu.Unlock()
			switch f {
			case "503":
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			case "close":
				conn, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					_ = conn.Close()
				}
				return
			}
			date := clk.now()
			w.Header().Set("Date", httpDate(date))
			for _, kv := range tc.hdr(date) {
				w.Header().Add(kv[0], kv[1])
			}
			if inm, ims := r.Header.Get("If-None-Match"), r.Header.Get("If-Modified-Since"); inm != "" && inm == w.Header().Get("ETag") ||
				inm == "" && ims != "" && ims == w.Header().Get("Last-Modified") {
				mu.Lock()
				conds[r.URL.Path]++
				mu.Unlock()
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(max(tc.status, 200))
			fmt.Fprintf(w, "%s at %d", r.URL.Path, date.UnixNano())
		}))
		defer origin.Close()
		u, _ := url.Parse(origin.URL)
		proxy := httputil.NewSingleHostReverseProxy(u)
		proxy.ErrorLog = log.New(io.Discard, "", 0)
		h := mustRoute(t, c, Route{Name: "rfc", RFC9111: true,
			TargetedCacheControl: []string{"Acme-CDN-Cache-Control", "CDN-Cache-Control"}}).Handler(proxy)
		for i, tc := range cases {
			path := fmt.Sprintf("/fresh/%d", i)
			mu.Lock()
			current[path] = tc
			mu.Unlock()
			count := func() int { mu.Lock(); defer mu.Unlock(); return hits[path] }
			start := clk.now()
			first := do(h, "GET", "http://cache.local"+path, tc.first...)
			want := tc.firstWant
			if want == "" {
				want = "MISS"
			}
			if x := first.header.Get("X-Cache"); x != want || tc.firstCode != 0 && first.code != tc.firstCode {
				t.Fatalf("%s: first request X-Cache %q status %d; want %q %d", tc.rule, x, first.code, want, tc.firstCode)
			}
			if tc.wantHdr[0] != "" && first.header.Get(tc.wantHdr[0]) != tc.wantHdr[1] {
				t.Fatalf("%s: %s %q; want %q", tc.rule, tc.wantHdr[0], first.header.Get(tc.wantHdr[0]), tc.wantHdr[1])
			}
			mu.Lock()
			gotAuth := auth[path]
			mu.Unlock()
			if gotAuth != tc.wantAuth {
				t.Fatalf("%s: the origin saw Authorization %q; want %q", tc.rule, gotAuth, tc.wantAuth)
			}
			for j, st := range tc.steps {
				clk.t.Store(start.Add(st.at).UnixNano())
				mu.Lock()
				fail[path] = st.fail
				mu.Unlock()
				before := count()
				mu.Lock()
				condsBefore := conds[path]
				mu.Unlock()
				got := do(h, "GET", "http://cache.local"+path, st.req...)
				c.bg.Wait() // background refreshes done
				if x := got.header.Get("X-Cache"); x != st.want {
					t.Fatalf("%s, step %d at +%v: X-Cache %s (status %d); want %s", tc.rule, j, st.at, x, got.code, st.want)
				}
				if st.code != 0 && got.code != st.code {
					t.Fatalf("%s, step %d: status %d; want %d", tc.rule, j, got.code, st.code)
				}
				forwarded := count() > before
				mu.Lock()
				validated := conds[path] > condsBefore
				mu.Unlock()
				if validated != st.cond {
					t.Fatalf("%s, step %d: validated %v; want %v", tc.rule, j, validated, st.cond)
				}
				wantFwd := st.want == "MISS" || st.want == "BYPASS" || st.fail != "" || st.cond || st.bg
				if st.code == http.StatusGatewayTimeout {
					wantFwd = false
				}
				if forwarded != wantFwd {
					t.Fatalf("%s, step %d: forwarded to the origin %v; want %v", tc.rule, j, forwarded, wantFwd)
				}
				if st.want == "HIT" && !strings.Contains(got.body, path) {
					t.Fatalf("%s, step %d: body %q", tc.rule, j, trunc(got.body))
				}
			}
			mu.Lock()
			fail[path] = ""
			mu.Unlock()
			clk.t.Store(start.Add(2000 * time.Hour).UnixNano()) // past every case's lifetime
		}
	})
}

// The field parsers on their own, value by value.
func TestRFC9111Parsers(t *testing.T) {
	dates := []struct {
		in string
		ok bool
	}{
		{"Sun, 06 Nov 1994 08:49:37 GMT", true},
		{"Sunday, 06-Nov-94 08:49:37 GMT", true},
		{"Sun Nov  6 08:49:37 1994", true},
		{"Sun Nov 16 08:49:37 1994", true}, // a wrong weekday is ignored (16 Nov 1994 was a Wednesday)
		{"Wed Nov 16 08:49:37 1994", true},
		{"sun, 06 Nov 1994 08:49:37 GMT", true},
		{"Sun, 06 nov 1994 08:49:37 GMT", true},
		{"Sun, 06 Nov 1994 08:49:37 gmt", true},
		{"Sun, 06 Nov 1994 8:49:37 GMT", false},
		{"Sun, 6 Nov 1994 08:49:37 GMT", false},
		{"Sun, 06 Nov 1994 08:49:37 GMT ", false},
		{"Sun, 06 Nov 1994 24:49:37 GMT", false},
		{"Sun, 31 Nov 1994 08:49:37 GMT", false},
		{"Sun Nov 6 08:49:37 1994", false},
		{"Sun, 06-Nov-94 08:49:37 GMT", false},
		{"0", false},
		{"", false},
	}
	for _, d := range dates {
		if _, ok := parseHTTPDate(d.in); ok != d.ok {
			t.Errorf("parseHTTPDate(%q) ok %v; want %v", d.in, ok, d.ok)
		}
	}
	if got, _ := parseHTTPDate("Sunday, 06-Nov-94 08:49:37 GMT"); got.Year() != 1994 {
		t.Errorf("two-digit year 94: %d; want 1994", got.Year())
	}
	ccs := []struct {
		in   string
		want map[string]string
	}{
		{`max-age=60, public`, map[string]string{"max-age": "60", "public": ""}},
		{`Max-Age="60"`, map[string]string{"max-age": "60"}},
		{`private="Set-Cookie, X-A", max-age=5`, map[string]string{"private": "Set-Cookie, X-A", "max-age": "5"}},
		{`max-age =5`, map[string]string{"max-age": badValue}},
		{`max-age= 5`, map[string]string{"max-age": badValue}},
		{`max-age=5, max-age=6`, map[string]string{"max-age": badValue}},
		{`max-age=5, max-age=5`, map[string]string{"max-age": "5"}},
		{`ext="a\"b,c", no-store`, map[string]string{"ext": `a"b,c`, "no-store": ""}},
		{`,, {x}, "q", no-cache`, map[string]string{"no-cache": ""}},
	}
	for _, c := range ccs {
		got := cacheControl([]string{c.in})
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("cacheControl(%q) = %q; want %q", c.in, got, c.want)
		}
	}
	targeted := []struct {
		in string
		ok bool
	}{
		{"max-age=60", true},
		{"max-age=60, private, no-store=?0", true},
		{`max-age=60;a=1, no-cache=("set-cookie" "x")`, true},
		{`max-age="60"`, false},
		{"max-age=-1", false},
		{"max-age=1.5", false},
		{"max-age=60,", false},
		{"max-age =60", false},
		{"max-age= 60", false},
		{"1max-age=60", false},
		{"max-age=1234567890123456", false},
	}
	for _, c := range targeted {
		if _, ok := parseTargeted(c.in); ok != c.ok {
			t.Errorf("parseTargeted(%q) ok %v; want %v", c.in, ok, c.ok)
		}
	}
	if m, _ := parseTargeted("no-store=?0, max-age=60"); len(m) != 1 {
		t.Errorf("a false boolean is absent: %q", m)
	}
	ages := map[string]bool{"10": true, "10, 0": true, "0010": true, "-1": false, "1.0": false, "abc": false, " 10 ": true}
	for in, ok := range ages {
		if _, got := ageOf(http.Header{"Age": {in}}); got != ok {
			t.Errorf("ageOf(%q) ok %v; want %v", in, got, ok)
		}
	}
}

func FuzzRFC9111Parsers(f *testing.F) {
	for _, s := range []string{"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
		`max-age=60, ext="a,b"`, `max-age=60;a=1, no-cache=("a" "b"), x=:aGk=:, y=?1, z=1.5, w=tok/en`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, ok := parseHTTPDate(s); ok {
			if back, ok := parseHTTPDate(d.Format(http.TimeFormat)); !ok || !back.Equal(d.Truncate(time.Second)) {
				t.Fatalf("%q parsed as %v, which does not round-trip", s, d)
			}
		}
		_ = cacheControl([]string{s})
		if m, ok := parseTargeted(s); ok {
			for _, k := range []string{"max-age", "s-maxage"} {
				if v, has := m[k]; has {
					if _, ok := seconds(v); !ok {
						t.Fatalf("%q: valid field with %s=%q", s, k, v)
					}
				}
			}
		}
	})
}
