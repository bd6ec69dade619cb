package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    map[string]*ecdsa.PrivateKey
	fetches atomic.Int64
}

func newJWKSServer(t *testing.T, projectID string) *jwksServer {
	j := &jwksServer{keys: map[string]*ecdsa.PrivateKey{}}
	j.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/projects/"+projectID+"/.well-known/jwks.json" {
			http.NotFound(w, r)
			return
		}
		j.fetches.Add(1)
		j.mu.Lock()
		defer j.mu.Unlock()
		var keys []map[string]string
		for kid, k := range j.keys {
			pub, _ := k.PublicKey.Bytes() // 0x04 || X || Y
			keys = append(keys, map[string]string{
				"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
				"x": base64.RawURLEncoding.EncodeToString(pub[1:33]),
				"y": base64.RawURLEncoding.EncodeToString(pub[33:]),
			})
		}
		json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	}))
	t.Cleanup(j.Close)
	return j
}

func (j *jwksServer) addKey(t *testing.T, kid string) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	j.mu.Lock()
	j.keys[kid] = k
	j.mu.Unlock()
	return k
}

func sign(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWTVerifier(t *testing.T) {
	const project = "proj-7f3a"
	srv := newJWKSServer(t, project)
	key := srv.addKey(t, "k1")
	v, err := NewJWTVerifier(JWTConfig{APIURL: srv.URL, ProjectID: project})
	if err != nil {
		t.Fatal(err)
	}
	if v.Issuer() != srv.URL+"/api/v1/projects/"+project {
		t.Fatalf("issuer %s", v.Issuer())
	}
	now := time.Now()
	claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"iss": v.Issuer(), "aud": project, "sub": "user-1", "exp": now.Add(10 * time.Minute).Unix(), "iat": now.Unix()}
		if mod != nil {
			mod(c)
		}
		return c
	}
	ctx := context.Background()

	if sub, ok := v.Verify(ctx, sign(t, jwt.SigningMethodES256, key, "k1", claims(nil))); !ok || sub != "user-1" {
		t.Fatalf("valid token: %q %v", sub, ok)
	}
	forger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	hmacKey := []byte("any-shared-secret")
	for name, token := range map[string]string{
		"expired":        sign(t, jwt.SigningMethodES256, key, "k1", claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() })),
		"no exp":         sign(t, jwt.SigningMethodES256, key, "k1", claims(func(c jwt.MapClaims) { delete(c, "exp") })),
		"wrong issuer":   sign(t, jwt.SigningMethodES256, key, "k1", claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example/api/v1/projects/" + project })),
		"wrong audience": sign(t, jwt.SigningMethodES256, key, "k1", claims(func(c jwt.MapClaims) { c["aud"] = "other-project" })),
		"forged":         sign(t, jwt.SigningMethodES256, forger, "k1", claims(nil)),
		"hs256":          sign(t, jwt.SigningMethodHS256, hmacKey, "k1", claims(nil)),
		"alg none":       sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "k1", claims(nil)),
		"no subject":     sign(t, jwt.SigningMethodES256, key, "k1", claims(func(c jwt.MapClaims) { delete(c, "sub") })),
		"garbage":        "not.a.jwt",
		"empty":          "",
	} {
		if sub, ok := v.Verify(ctx, token); ok {
			t.Errorf("%s token accepted as %q", name, sub)
		}
	}
}

func TestJWTVerifierRotationAndRefetchLimit(t *testing.T) {
	const project = "proj-rot"
	srv := newJWKSServer(t, project)
	srv.addKey(t, "old")
	clock := time.Now()
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	v, err := NewJWTVerifier(JWTConfig{APIURL: srv.URL, ProjectID: project, MinRefetch: 30 * time.Second, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{"iss": v.Issuer(), "aud": project, "sub": "user-9", "exp": time.Now().Add(time.Hour).Unix()}

	// Forged key ids cannot make the verifier fetch more than once per MinRefetch.
	attacker, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	start := srv.fetches.Load()
	for i := 0; i < 50; i++ {
		if _, ok := v.Verify(ctx, sign(t, jwt.SigningMethodES256, attacker, "random-"+string(rune('a'+i%26)), claims)); ok {
			t.Fatal("token with an unknown key accepted")
		}
	}
	if got := srv.fetches.Load() - start; got > 1 {
		t.Errorf("50 unknown-kid tokens caused %d fetches, want at most 1", got)
	}

	advance(31 * time.Second)
	newKey := srv.addKey(t, "new")
	if sub, ok := v.Verify(ctx, sign(t, jwt.SigningMethodES256, newKey, "new", claims)); !ok || sub != "user-9" {
		t.Errorf("token under the rotated key after MinRefetch: %q %v", sub, ok)
	}
}

func TestNewJWTVerifierValidates(t *testing.T) {
	for _, cfg := range []JWTConfig{
		{APIURL: "", ProjectID: "p"},
		{APIURL: "ftp://x", ProjectID: "p"},
		{APIURL: "https://api.example.com", ProjectID: ""},
		{APIURL: "https://api.example.com", ProjectID: "a/b"},
		{APIURL: "https://api.example.com", ProjectID: "p", JWKSURL: "nope"},
	} {
		if _, err := NewJWTVerifier(cfg); err == nil {
			t.Errorf("NewJWTVerifier(%+v) accepted", cfg)
		}
	}
}
