package identity

import (
	"context"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

func mustPrefixes(t *testing.T, s string) Prefixes {
	t.Helper()
	p, err := ParsePrefixes(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParsePrefixes(t *testing.T) {
	p := mustPrefixes(t, " 10.0.0.0/8, 192.0.2.7 ,2001:db8::/32,")
	if len(p) != 3 {
		t.Fatalf("got %v", p)
	}
	for addr, want := range map[string]bool{"10.1.2.3": true, "192.0.2.7": true, "192.0.2.8": false, "2001:db8::1": true, "::ffff:10.0.0.1": true} {
		if got := p.Contains(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Contains(%s) = %v, want %v", addr, got, want)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0/8"} {
		if _, err := ParsePrefixes(bad); err == nil {
			t.Errorf("ParsePrefixes(%q) accepted", bad)
		}
	}
}

func TestClientIP(t *testing.T) {
	trusted := mustPrefixes(t, "10.0.0.0/8")
	for _, tc := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"untrusted peer ignores XFF", "203.0.113.9:5000", []string{"198.51.100.1"}, "203.0.113.9"},
		{"trusted peer, one hop", "10.0.0.5:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"client-prepended spoof ignored", "10.0.0.5:5000", []string{"1.1.1.1, 198.51.100.1"}, "198.51.100.1"},
		{"skips trusted hops from the right", "10.0.0.5:5000", []string{"1.1.1.1, 198.51.100.1, 10.2.3.4"}, "198.51.100.1"},
		{"several header lines", "10.0.0.5:5000", []string{"1.1.1.1", "198.51.100.1", "10.2.3.4"}, "198.51.100.1"},
		{"all hops trusted", "10.0.0.5:5000", []string{"10.9.9.9, 10.2.3.4"}, "10.9.9.9"},
		{"no XFF from trusted peer", "10.0.0.5:5000", nil, "10.0.0.5"},
		{"garbage hop stops the walk", "10.0.0.5:5000", []string{"198.51.100.1, not-an-ip, 10.2.3.4"}, "10.2.3.4"},
		{"hop with port", "10.0.0.5:5000", []string{"198.51.100.1:4711"}, "198.51.100.1"},
		{"ipv6 hop", "10.0.0.5:5000", []string{"[2001:db8::7]:443"}, "2001:db8::7"},
		{"ipv6 peer", "[2001:db8::1]:5000", nil, "2001:db8::1"},
	} {
		got, ok := ClientIP(tc.peer, tc.xff, trusted)
		if !ok || got.String() != tc.want {
			t.Errorf("%s: ClientIP = %v %v, want %s", tc.name, got, ok, tc.want)
		}
	}
}

type fakeTokens map[string]string

func (f fakeTokens) Verify(_ context.Context, token string) (string, bool) {
	u, ok := f[token]
	return u, ok
}

func resolver(t *testing.T, cfg Config) *Resolver {
	cfg.DefaultTier = "free"
	cfg.KnownTier = func(s string) bool { return s == "free" || s == "pro" || s == "admin" }
	return NewResolver(cfg)
}

func TestSpoofedHeadersFromUntrustedPeers(t *testing.T) {
	r := resolver(t, Config{TrustedProxies: mustPrefixes(t, "10.0.0.0/8"), TrustedCallers: mustPrefixes(t, "10.1.0.0/16")})
	subjects := map[string]bool{}
	for i := 0; i < 20; i++ {
		req := httptest.NewRequest("POST", "/api/v1/auth/password/sign-in", nil)
		req.RemoteAddr = "203.0.113.50:40000"
		req.Header.Set("X-Forwarded-For", netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}).String())
		req.Header.Set(TierHeader, "admin")
		req.Header.Set(UserHeader, "someone-else")
		id := r.Resolve(req)
		if id.Tier != "free" || id.Source != SourceIP {
			t.Fatalf("untrusted peer got tier %q source %q", id.Tier, id.Source)
		}
		subjects[id.Subject] = true
	}
	if len(subjects) != 1 || !subjects["ip:203.0.113.50"] {
		t.Errorf("rotating X-Forwarded-For gave subjects %v, want only ip:203.0.113.50", subjects)
	}

	// Through a trusted proxy, a client is still not a trusted caller.
	req := httptest.NewRequest("GET", "/api/v1/users/me", nil)
	req.RemoteAddr = "10.0.0.5:40000"
	req.Header.Set("X-Forwarded-For", "198.51.100.77")
	req.Header.Set(TierHeader, "admin")
	if id := r.Resolve(req); id.Tier != "free" || id.Subject != "ip:198.51.100.77" || !r.TrustsPeer(req.RemoteAddr) {
		t.Errorf("client behind trusted proxy: %+v", id)
	}
}

func TestTrustedCallerByCIDR(t *testing.T) {
	r := resolver(t, Config{TrustedProxies: mustPrefixes(t, "10.0.0.0/8"), TrustedCallers: mustPrefixes(t, "10.1.0.0/16")})
	req := httptest.NewRequest("GET", "/api/v1/users/me", nil)
	req.RemoteAddr = "10.1.2.3:40000"
	req.Header.Set(TierHeader, "PRO")
	req.Header.Set(UserHeader, "user123")
	id := r.Resolve(req)
	if id.Tier != "pro" || id.Subject != "user:user123" || id.Source != SourceCaller {
		t.Errorf("trusted caller: %+v", id)
	}
	req.Header.Set(TierHeader, "platinum")
	if id := r.Resolve(req); id.Tier != "free" {
		t.Errorf("unknown tier from a trusted caller gave tier %q, want the default", id.Tier)
	}
}

func TestTrustedCallerBySignature(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	r := resolver(t, Config{CallerSecret: secret, Now: func() time.Time { return now }})
	build := func(path, tier, user, sig string) Identity {
		req := httptest.NewRequest("GET", path, nil)
		req.RemoteAddr = "203.0.113.9:1234"
		req.Header.Set(TierHeader, tier)
		req.Header.Set(UserHeader, user)
		if sig != "" {
			req.Header.Set(SignatureHeader, sig)
		}
		return r.Resolve(req)
	}
	good := SignCaller(secret, now, "GET", "/api/v1/users/me", "pro", "u-1")
	if id := build("/api/v1/users/me", "pro", "u-1", good); id.Tier != "pro" || id.Subject != "user:u-1" {
		t.Errorf("valid signature: %+v", id)
	}
	for name, id := range map[string]Identity{
		"no signature":    build("/api/v1/users/me", "pro", "u-1", ""),
		"other tier":      build("/api/v1/users/me", "admin", "u-1", good),
		"other user":      build("/api/v1/users/me", "pro", "u-2", good),
		"other path":      build("/api/v1/payments/x", "pro", "u-1", good),
		"wrong secret":    build("/api/v1/users/me", "pro", "u-1", SignCaller([]byte("another-secret-another-secret!!"), now, "GET", "/api/v1/users/me", "pro", "u-1")),
		"too old":         build("/api/v1/users/me", "pro", "u-1", SignCaller(secret, now.Add(-6*time.Minute), "GET", "/api/v1/users/me", "pro", "u-1")),
		"garbage":         build("/api/v1/users/me", "pro", "u-1", "t=abc,v1=zz"),
		"from the future": build("/api/v1/users/me", "pro", "u-1", SignCaller(secret, now.Add(6*time.Minute), "GET", "/api/v1/users/me", "pro", "u-1")),
	} {
		if id.Tier != "free" || id.Source != SourceIP {
			t.Errorf("%s: honoured as %+v", name, id)
		}
	}
}

func TestTokenUserAndIPv6Grouping(t *testing.T) {
	r := resolver(t, Config{Tokens: fakeTokens{"good": "user-42"}})
	req := httptest.NewRequest("GET", "/api/v1/users/me", nil)
	req.RemoteAddr = "[2001:db8:1:2:aaaa::1]:5000"
	if id := r.Resolve(req); id.Subject != "ip:2001:db8:1:2::/64" {
		t.Errorf("IPv6 subject %q, want the /64", id.Subject)
	}
	req.Header.Set("X-Stack-Access-Token", "good")
	if id := r.Resolve(req); id.Subject != "user:user-42" || id.Source != SourceToken {
		t.Errorf("token user: %+v", id)
	}
	req.Header.Del("X-Stack-Access-Token")
	req.Header.Set("Authorization", "Bearer good")
	if id := r.Resolve(req); id.Subject != "user:user-42" {
		t.Errorf("bearer token user: %+v", id)
	}
	req.Header.Set("Authorization", "Bearer broken")
	if id := r.Resolve(req); id.Source != SourceIP {
		t.Errorf("broken token: %+v, want anonymous", id)
	}
}
