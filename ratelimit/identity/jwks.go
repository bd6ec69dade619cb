package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWTConfig says which Stack Auth project's access tokens to accept.
type JWTConfig struct {
	// APIURL is the public Stack Auth API URL the tokens were issued under
	// (NEXT_PUBLIC_STACK_API_URL of the server), e.g. https://api.example.com.
	APIURL    string
	ProjectID string
	// JWKSURL overrides where keys are fetched, e.g. the in-cluster service;
	// it defaults to <APIURL>/api/v1/projects/<ProjectID>/.well-known/jwks.json.
	JWKSURL string
	// RefreshEvery re-fetches the key set in the background (default 10m).
	RefreshEvery time.Duration
	// MinRefetch is the least time between fetches caused by tokens with an
	// unknown key id (default 30s), so forged key ids cannot hammer Stack Auth.
	MinRefetch time.Duration
	HTTPClient *http.Client
	Log        *slog.Logger
	Now        func() time.Time
}

// JWTVerifier checks Stack Auth access tokens: ES256, signed by a key of the
// project's JWKS, issuer <APIURL>/api/v1/projects/<id>, audience the project
// id, not expired.
type JWTVerifier struct {
	cfg    JWTConfig
	issuer string
	parser *jwt.Parser

	keys        atomic.Pointer[keySet]
	fetchMu     sync.Mutex
	lastAttempt atomic.Int64 // unix nanoseconds
	refreshing  atomic.Bool
}

type keySet struct {
	keys    map[string]*ecdsa.PublicKey
	fetched time.Time
}

// fetchTimeout bounds one JWKS request.
const fetchTimeout = 3 * time.Second

// NewJWTVerifier validates cfg; it fetches nothing until Refresh or Verify.
func NewJWTVerifier(cfg JWTConfig) (*JWTVerifier, error) {
	api, err := url.Parse(cfg.APIURL)
	if err != nil || (api.Scheme != "https" && api.Scheme != "http") || api.Host == "" {
		return nil, errors.New("API URL must be an http(s) URL such as https://api.example.com")
	}
	if cfg.ProjectID == "" || strings.ContainsAny(cfg.ProjectID, "/?# ") {
		return nil, errors.New("project id must be set and must not contain '/', '?', '#' or spaces")
	}
	base := strings.TrimRight(cfg.APIURL, "/")
	if cfg.JWKSURL == "" {
		cfg.JWKSURL = base + "/api/v1/projects/" + cfg.ProjectID + "/.well-known/jwks.json"
	} else if u, err := url.Parse(cfg.JWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("JWKS URL must be an http(s) URL")
	}
	if cfg.RefreshEvery <= 0 {
		cfg.RefreshEvery = 10 * time.Minute
	}
	if cfg.MinRefetch <= 0 {
		cfg.MinRefetch = 30 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: fetchTimeout}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	v := &JWTVerifier{cfg: cfg, issuer: base + "/api/v1/projects/" + cfg.ProjectID}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{"ES256"}),
		jwt.WithIssuer(v.issuer),
		jwt.WithAudience(cfg.ProjectID),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(30*time.Second),
		jwt.WithTimeFunc(cfg.Now),
	)
	return v, nil
}

// Issuer is the issuer tokens must carry.
func (v *JWTVerifier) Issuer() string { return v.issuer }

// JWKSURL is where keys are fetched.
func (v *JWTVerifier) JWKSURL() string { return v.cfg.JWKSURL }

// Verify returns the token's subject (the user id) if the token is valid.
func (v *JWTVerifier) Verify(ctx context.Context, token string) (string, bool) {
	claims := &jwt.RegisteredClaims{}
	_, err := v.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		return v.key(ctx, kid)
	})
	if err != nil || claims.Subject == "" {
		return "", false
	}
	return claims.Subject, true
}

func (v *JWTVerifier) key(ctx context.Context, kid string) (*ecdsa.PublicKey, error) {
	set := v.keys.Load()
	if set != nil {
		if v.cfg.Now().Sub(set.fetched) > v.cfg.RefreshEvery && v.mayFetch() {
			v.refreshInBackground()
		}
		if k, ok := set.keys[kid]; ok {
			return k, nil
		}
	}
	// Unknown key id: the project may have rotated keys. Fetch again, but
	// not more often than MinRefetch.
	if v.mayFetch() {
		if err := v.Refresh(ctx); err != nil {
			return nil, err
		}
		if k, ok := v.keys.Load().keys[kid]; ok {
			return k, nil
		}
	}
	return nil, fmt.Errorf("no key with id %q", kid)
}

func (v *JWTVerifier) mayFetch() bool {
	last := v.lastAttempt.Load()
	return last == 0 || v.cfg.Now().Sub(time.Unix(0, last)) >= v.cfg.MinRefetch
}

func (v *JWTVerifier) refreshInBackground() {
	if !v.refreshing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer v.refreshing.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
		defer cancel()
		if err := v.Refresh(ctx); err != nil {
			v.cfg.Log.Warn("JWKS refresh failed; keeping the cached keys", "url", v.cfg.JWKSURL, "error", err.Error())
		}
	}()
}

// Refresh fetches the key set now. Concurrent callers share one fetch.
func (v *JWTVerifier) Refresh(ctx context.Context) error {
	started := v.cfg.Now()
	v.fetchMu.Lock()
	defer v.fetchMu.Unlock()
	if set := v.keys.Load(); set != nil && !set.fetched.Before(started) {
		return nil // fetched by another caller while we waited
	}
	v.lastAttempt.Store(v.cfg.Now().UnixNano())
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	keys, err := fetchJWKS(ctx, v.cfg.HTTPClient, v.cfg.JWKSURL)
	if err != nil {
		return err
	}
	v.keys.Store(&keySet{keys: keys, fetched: v.cfg.Now()})
	return nil
}

func fetchJWKS(ctx context.Context, client *http.Client, jwksURL string) (map[string]*ecdsa.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, jwksURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching JWKS: HTTP %d", resp.StatusCode)
	}
	var doc struct {
		Keys []struct {
			Kty, Crv, Kid, X, Y, Use, Alg string
		} `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("JWKS is not JSON: %w", err)
	}
	keys := map[string]*ecdsa.PublicKey{}
	for _, k := range doc.Keys {
		if k.Kty != "EC" || k.Crv != "P-256" || (k.Use != "" && k.Use != "sig") || (k.Alg != "" && k.Alg != "ES256") {
			continue
		}
		pub, err := p256Key(k.X, k.Y)
		if err != nil {
			return nil, fmt.Errorf("JWKS key %q: %w", k.Kid, err)
		}
		keys[k.Kid] = pub
	}
	if len(keys) == 0 {
		return nil, errors.New("JWKS holds no ES256 (EC P-256) signing key")
	}
	return keys, nil
}

func p256Key(x, y string) (*ecdsa.PublicKey, error) {
	xb, err := base64.RawURLEncoding.DecodeString(x)
	if err != nil || len(xb) != 32 {
		return nil, errors.New("x is not a 32-byte base64url value")
	}
	yb, err := base64.RawURLEncoding.DecodeString(y)
	if err != nil || len(yb) != 32 {
		return nil, errors.New("y is not a 32-byte base64url value")
	}
	return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, xb...), yb...))
}
