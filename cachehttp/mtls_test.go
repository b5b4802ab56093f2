package cachehttp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/aura-platform/redishttp/middleware"
)

// testCA issues client certificates for mutual TLS tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// client returns a client certificate for common name cn.
func (ca *testCA) client(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// certGreeter greets the client by its certificate's common name, or by
// the user named in the request URL's userinfo.
var certGreeter = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	name := "anonymous"
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		name = r.TLS.PeerCertificates[0].Subject.CommonName
	} else if r.URL.User != nil {
		name = r.URL.User.Username()
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "hello "+name)
})

// A client certificate is an identity: on a shared route a request with one
// bypasses the cache (nobody is served alice's greeting), and on an
// Anonymous route the fill runs without it, over a real mutual-TLS server.
func TestSharedRouteClientCertificate(t *testing.T) {
	ca := newTestCA(t)
	alice, bob := ca.client(t, "alice"), ca.client(t, "bob")
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := newTestCache(t, tg.Client, tg.Prefix, Options{})
		mux := http.NewServeMux()
		mux.Handle("/shared", mustRoute(t, c, Route{Name: "mtls-shared"}).Handler(certGreeter))
		mux.Handle("/anon", mustRoute(t, c, Route{Name: "mtls-anon", Anonymous: true}).Handler(certGreeter))
		srv := httptest.NewUnstartedServer(mux)
		srv.TLS = &tls.Config{ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: ca.pool}
		srv.StartTLS()
		defer srv.Close()
		get := func(path string, cert *tls.Certificate) (string, string) {
			t.Helper()
			tr := srv.Client().Transport.(*http.Transport).Clone()
			if cert != nil {
				tr.TLSClientConfig.Certificates = []tls.Certificate{*cert}
			}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr}).Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.Header.Get("X-Cache"), string(b)
		}
		check := func(path string, cert *tls.Certificate, wantX, wantBody string) {
			t.Helper()
			if x, b := get(path, cert); x != wantX || b != wantBody {
				t.Fatalf("GET %s: %s %q; want %s %q", path, x, b, wantX, wantBody)
			}
		}
		check("/shared", &alice, "BYPASS", "hello alice")
		check("/shared", &bob, "BYPASS", "hello bob")
		check("/shared", nil, "MISS", "hello anonymous")
		check("/shared", &alice, "BYPASS", "hello alice")
		check("/shared", nil, "HIT", "hello anonymous")

		check("/anon", &alice, "MISS", "hello anonymous")
		check("/anon", &bob, "HIT", "hello anonymous")
	})
}

// Userinfo in an absolute-form request line is an identity too, and a
// shared fill never sees it nor a client certificate.
func TestSharedRouteURLUserinfo(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := newTestCache(t, tg.Client, tg.Prefix, Options{})
		shared := mustRoute(t, c, Route{Name: "userinfo-shared"}).Handler(certGreeter)
		anon := mustRoute(t, c, Route{Name: "userinfo-anon", Anonymous: true}).Handler(certGreeter)
		serve := func(h http.Handler, target string) (string, string) {
			r := httptest.NewRequest("GET", target, nil)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			return w.Header().Get("X-Cache"), w.Body.String()
		}
		for _, tc := range []struct {
			h                       http.Handler
			target, wantX, wantBody string
		}{
			{shared, "http://alice:pw@example.com/u", "BYPASS", "hello alice"},
			{shared, "http://example.com/u", "MISS", "hello anonymous"},
			{shared, "http://bob@example.com/u", "BYPASS", "hello bob"},
			{shared, "http://example.com/u", "HIT", "hello anonymous"},
			{anon, "http://alice:pw@example.com/a", "MISS", "hello anonymous"},
			{anon, "http://example.com/a", "HIT", "hello anonymous"},
		} {
			if x, b := serve(tc.h, tc.target); x != tc.wantX || b != tc.wantBody {
				t.Fatalf("GET %s: %s %q; want %s %q", tc.target, x, b, tc.wantX, tc.wantBody)
			}
		}
	})
}

// fillRequest drops the client certificate and the URL userinfo on a
// shared route, without touching the request's own TLS state; a PerUser
// fill keeps them.
func TestFillRequestTransportIdentity(t *testing.T) {
	c := newTestCache(t, nil, "fti:", Options{})
	ca := newTestCA(t)
	leaf, err := x509.ParseCertificate(ca.client(t, "alice").Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "https://alice:pw@example.com/x", nil)
	r.TLS = &tls.ConnectionState{HandshakeComplete: true, ServerName: "example.com",
		PeerCertificates: []*x509.Certificate{leaf}, VerifiedChains: [][]*x509.Certificate{{leaf, ca.cert}}}
	r = r.WithContext(middleware.WithUser(r.Context(), "alice"))
	for _, rt := range []Route{{Name: "t-shared"}, {Name: "t-anon", Anonymous: true}, {Name: "t-rfc", RFC9111: true}} {
		rc := mustRoute(t, c, rt)
		r2 := rc.fillRequest(r, &request{}, r.Context())
		if r2.TLS == nil || !r2.TLS.HandshakeComplete || r2.TLS.ServerName != "example.com" {
			t.Fatalf("%s: fill lost the TLS state: %+v", rt.Name, r2.TLS)
		}
		if len(r2.TLS.PeerCertificates) != 0 || len(r2.TLS.VerifiedChains) != 0 || r2.URL.User != nil {
			t.Fatalf("%s: fill sees certificates %d, chains %d, userinfo %v", rt.Name,
				len(r2.TLS.PeerCertificates), len(r2.TLS.VerifiedChains), r2.URL.User)
		}
	}
	if len(r.TLS.PeerCertificates) != 1 || len(r.TLS.VerifiedChains) != 1 || r.URL.User == nil {
		t.Fatal("fillRequest changed the client's request")
	}
	rc := mustRoute(t, c, Route{Name: "t-user", PerUser: true})
	r2 := rc.fillRequest(r, &request{}, r.Context())
	if len(r2.TLS.PeerCertificates) != 1 || r2.URL.User == nil {
		t.Fatal("per-user fill lost the client certificate or userinfo")
	}
}
