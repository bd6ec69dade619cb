// Package identity decides who a request counts against: a trusted caller's
// declared user and tier, the user of a verified Stack Auth access token, or
// the client IP (the socket peer, or X-Forwarded-For walked from the right
// past trusted proxies). Unverifiable claims fall back to the client IP.
package identity

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// TokenVerifier turns an access token into a user id.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (userID string, ok bool)
}

// Config configures a Resolver.
type Config struct {
	// TrustedProxies may set X-Forwarded-For.
	TrustedProxies Prefixes
	// TrustedCallers may set X-Rate-Limit-Tier and X-User-Id (matched on
	// the client IP).
	TrustedCallers Prefixes
	// CallerSecret, if set, also admits callers that sign those headers
	// (see SignCaller).
	CallerSecret []byte
	// Tokens verifies access tokens; nil counts every request by IP or caller.
	Tokens TokenVerifier
	// DefaultTier applies unless a trusted caller names a tier.
	DefaultTier string
	// KnownTier reports whether a tier name exists.
	KnownTier func(string) bool
	Now       func() time.Time
}

// Source says where an identity came from.
type Source string

const (
	SourceIP     Source = "ip"
	SourceToken  Source = "token"
	SourceCaller Source = "caller"
)

// Identity is who a request counts against.
type Identity struct {
	Tier     string
	Subject  string // "user:<id>" or "ip:<address or /64>"
	ClientIP netip.Addr
	Source   Source
}

// Resolver maps requests to identities.
type Resolver struct{ cfg Config }

// NewResolver returns a Resolver.
func NewResolver(cfg Config) *Resolver {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.KnownTier == nil {
		cfg.KnownTier = func(string) bool { return false }
	}
	return &Resolver{cfg: cfg}
}

// Resolve never fails: what cannot be verified is ignored.
func (r *Resolver) Resolve(req *http.Request) Identity {
	id := Identity{Tier: r.cfg.DefaultTier, Source: SourceIP}
	id.ClientIP, _ = ClientIP(req.RemoteAddr, req.Header.Values("X-Forwarded-For"), r.cfg.TrustedProxies)
	if id.ClientIP.IsValid() {
		id.Subject = ipSubject(id.ClientIP)
	} else {
		id.Subject = "ip:unknown"
	}

	if user, ok := r.tokenUser(req); ok {
		id.Subject, id.Source = "user:"+user, SourceToken
	}

	tier := strings.ToLower(strings.TrimSpace(req.Header.Get(TierHeader)))
	user := strings.TrimSpace(req.Header.Get(UserHeader))
	if (tier != "" || user != "") && r.trustedCaller(req, id.ClientIP) {
		if tier != "" && r.cfg.KnownTier(tier) {
			id.Tier = tier
		}
		if user != "" {
			id.Subject, id.Source = "user:"+user, SourceCaller
		}
	}
	return id
}

// TrustsPeer reports whether the socket peer is a trusted proxy, whose
// X-Forwarded-* headers may be passed on.
func (r *Resolver) TrustsPeer(remoteAddr string) bool {
	peer, ok := parseHost(remoteAddr)
	return ok && r.cfg.TrustedProxies.Contains(peer)
}

// tokenUser reads the Stack Auth access token from x-stack-access-token or
// an Authorization bearer header.
func (r *Resolver) tokenUser(req *http.Request) (string, bool) {
	if r.cfg.Tokens == nil {
		return "", false
	}
	token := req.Header.Get("X-Stack-Access-Token")
	if token == "" {
		if auth := req.Header.Get("Authorization"); len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
			token = strings.TrimSpace(auth[7:])
		}
	}
	if token == "" {
		return "", false
	}
	return r.cfg.Tokens.Verify(req.Context(), token)
}

func (r *Resolver) trustedCaller(req *http.Request, client netip.Addr) bool {
	if client.IsValid() && r.cfg.TrustedCallers.Contains(client) {
		return true
	}
	sig := req.Header.Get(SignatureHeader)
	if len(r.cfg.CallerSecret) == 0 || sig == "" {
		return false
	}
	return verifyCaller(r.cfg.CallerSecret, sig, r.cfg.Now(), req.Method, req.URL.Path,
		req.Header.Get(TierHeader), req.Header.Get(UserHeader))
}
