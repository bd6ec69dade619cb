// Package httpgw is the HTTP side of the gateway: it sheds load over the
// in-flight limit, decides each request with the limiter, answers 429 with
// Retry-After or proxies to the upstream with the IETF RateLimit headers,
// and serves /health, /ready and /metrics on the separate admin port.
package httpgw

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/stackauth-platform/infra/ratelimit/identity"
	"github.com/stackauth-platform/infra/ratelimit/internal/logevery"
	"github.com/stackauth-platform/infra/ratelimit/limiter"
	"github.com/stackauth-platform/infra/ratelimit/metrics"
	"github.com/stackauth-platform/infra/ratelimit/rules"
)

// Config wires a Gateway.
type Config struct {
	Upstream *url.URL
	Rules    *rules.Set
	Identity *identity.Resolver
	Limiter  *limiter.Limiter
	Metrics  *metrics.Metrics
	// MaxInFlight sheds requests beyond this many in progress with 503;
	// 0 means no limit.
	MaxInFlight int
	// SkipRateLimit proxies everything without deciding.
	SkipRateLimit bool
	// Transport reaches the upstream; nil uses NewUpstreamTransport.
	Transport http.RoundTripper
	Log       *slog.Logger
}

// Gateway is the public handler.
type Gateway struct {
	cfg         Config
	proxy       *httputil.ReverseProxy
	slots       chan struct{}
	upstreamLog *logevery.Logger
}

// New returns a Gateway.
func New(cfg Config) (*Gateway, error) {
	if cfg.Upstream == nil || cfg.Rules == nil || cfg.Identity == nil || cfg.Metrics == nil {
		return nil, errors.New("httpgw: Upstream, Rules, Identity and Metrics are required")
	}
	if cfg.Limiter == nil && !cfg.SkipRateLimit {
		return nil, errors.New("httpgw: Limiter is required unless SkipRateLimit is set")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Transport == nil {
		cfg.Transport = NewUpstreamTransport()
	}
	g := &Gateway{cfg: cfg, upstreamLog: logevery.New(cfg.Log, 10*time.Second)}
	if cfg.MaxInFlight > 0 {
		g.slots = make(chan struct{}, cfg.MaxInFlight)
	}
	g.proxy = &httputil.ReverseProxy{
		Rewrite:      g.rewrite,
		Transport:    cfg.Transport,
		ErrorHandler: g.upstreamError,
		ErrorLog:     slog.NewLogLogger(cfg.Log.Handler(), slog.LevelWarn),
	}
	return g, nil
}

// NewUpstreamTransport has timeouts against a hung upstream and enough idle
// connections for a busy proxy (the default keeps 2 per host).
func NewUpstreamTransport() *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
}

// ServeHTTP handles one public request.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	match := g.cfg.Rules.Match(r.Method, r.URL.Path)
	rec := &statusRecorder{ResponseWriter: w}
	defer func() { g.cfg.Metrics.Request(match.Route, r.Method, rec.status(), time.Since(start)) }()

	if g.slots != nil {
		select {
		case g.slots <- struct{}{}:
			defer func() { <-g.slots }()
		default:
			g.cfg.Metrics.Shed()
			writeError(rec, http.StatusServiceUnavailable, time.Second, map[string]any{"error": "overloaded"})
			return
		}
	}
	g.cfg.Metrics.InFlight(1)
	defer g.cfg.Metrics.InFlight(-1)

	if !g.cfg.SkipRateLimit && !g.decide(rec, r, match) {
		return
	}
	g.proxy.ServeHTTP(rec, r)
}

// decide writes the refusal and returns false when the request may not pass.
func (g *Gateway) decide(w http.ResponseWriter, r *http.Request, match rules.Match) bool {
	id := g.cfg.Identity.Resolve(r)
	tierLimit, ok := g.cfg.Rules.Tier(id.Tier)
	if !ok { // the resolver only yields known tiers; keep the default safe anyway
		id.Tier = g.cfg.Rules.DefaultTier
		tierLimit, _ = g.cfg.Rules.Tier(id.Tier)
	}
	limits := append([]limiter.Limit{tierLimit}, match.Endpoints...)
	res := g.cfg.Limiter.Allow(r.Context(), limiter.Key{Tier: id.Tier, Subject: id.Subject}, limits)
	denied, _ := res.DeniedBy()
	if res.StoreDown {
		writeError(w, http.StatusServiceUnavailable, res.RetryAfter(), map[string]any{
			"error": "rate_limiter_unavailable", "rule": denied.Limit.Rule,
		})
		return false
	}
	setRateLimitHeaders(w.Header(), res)
	if res.Allowed {
		return true
	}
	g.cfg.Metrics.Exceeded(denied.Limit.Rule, id.Tier)
	retry := retrySeconds(res.RetryAfter())
	writeError(w, http.StatusTooManyRequests, res.RetryAfter(), map[string]any{
		"error": "rate_limited", "rule": denied.Limit.Rule, "retry_after": retry,
	})
	return false
}

func (g *Gateway) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(g.cfg.Upstream)
	// Rewrite starts with the X-Forwarded-* headers removed. Keep a trusted
	// proxy's chain and add our peer; from anyone else the chain is a claim
	// and starts again at the peer.
	if g.cfg.Identity.TrustsPeer(pr.In.RemoteAddr) {
		pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
		pr.SetXForwarded()
		for _, h := range []string{"X-Forwarded-Proto", "X-Forwarded-Host"} {
			if v := pr.In.Header.Get(h); v != "" {
				pr.Out.Header.Set(h, v)
			}
		}
	} else {
		pr.SetXForwarded()
	}
	for _, h := range []string{identity.TierHeader, identity.UserHeader, identity.SignatureHeader} {
		pr.Out.Header.Del(h)
	}
	propagateTraceContext(pr.Out.Header)
}

func (g *Gateway) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		w.WriteHeader(499) // client closed the request; nobody reads this
		return
	}
	g.cfg.Metrics.UpstreamError()
	g.upstreamLog.Warn("upstream request failed", "error", err.Error(), "trace_id", traceID(r.Header))
	writeError(w, http.StatusBadGateway, 0, map[string]any{"error": "upstream_unavailable"})
}

// setRateLimitHeaders writes the IETF draft's fields: the policies that
// applied and, per policy, the remaining quota (r) and seconds until one
// more request is available (t).
func setRateLimitHeaders(h http.Header, res limiter.Result) {
	if len(res.Rules) == 0 {
		return
	}
	policies := make([]string, len(res.Rules))
	states := make([]string, len(res.Rules))
	for i, s := range res.Rules {
		policies[i] = fmt.Sprintf("%q;q=%d;w=%d", s.Limit.Rule, s.Limit.Max, retrySeconds(s.Limit.Window))
		reset := s.Reset
		if s.RetryAfter > 0 {
			reset = s.RetryAfter
		}
		states[i] = fmt.Sprintf("%q;r=%d;t=%d", s.Limit.Rule, s.Remaining, ceilSeconds(reset))
	}
	h.Set("RateLimit-Policy", strings.Join(policies, ", "))
	h.Set("RateLimit", strings.Join(states, ", "))
}

// retrySeconds is a wait in whole seconds, rounded up and at least 1.
func retrySeconds(d time.Duration) int64 { return max(1, ceilSeconds(d)) }

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

func writeError(w http.ResponseWriter, code int, retryAfter time.Duration, body map[string]any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if retryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(retrySeconds(retryAfter), 10))
	}
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// statusRecorder remembers the status code for metrics.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 && code >= 200 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush on the real writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusRecorder) status() int {
	if s.code == 0 {
		return http.StatusOK
	}
	return s.code
}
