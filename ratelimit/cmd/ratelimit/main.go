// Command ratelimit is the rate-limit gateway in front of the Stack Auth API.
//
//	UPSTREAM_URL=http://localhost:8102 REDIS_URL=redis://localhost:6379 go run ./ratelimit/cmd/ratelimit
//
// Settings are flags or environment variables (ratelimit -h lists them).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	// The image has no CA bundle or zone database: embed both. The roots
	// are used only when the system has none (rediss://, https JWKS).
	_ "golang.org/x/crypto/x509roots/fallback"
	_ "time/tzdata"

	"github.com/stackauth-platform/infra/ratelimit/config"
	"github.com/stackauth-platform/infra/ratelimit/httpgw"
	"github.com/stackauth-platform/infra/ratelimit/identity"
	"github.com/stackauth-platform/infra/ratelimit/limiter"
	"github.com/stackauth-platform/infra/ratelimit/metrics"
	"github.com/stackauth-platform/infra/ratelimit/store/memstore"
	"github.com/stackauth-platform/infra/ratelimit/store/redisstore"
	"github.com/stackauth-platform/infra/ratelimit/store/upstash"
)

// version is set at build time: go build -ldflags "-X main.version=1.2.3".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, nil))
}

// run starts the gateway and blocks until ctx ends and requests have
// drained. started, if set, learns the bound addresses. It returns the exit
// code: 2 for bad configuration, 1 for a failure while running.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, started func(public, admin net.Addr)) int {
	cfg, err := config.Load(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "ratelimit %s: invalid configuration:\n%v\n", version, err)
		return 2
	}
	if cfg.ShowVersion {
		fmt.Fprintln(stdout, version)
		return 0
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	log.Info("ratelimit starting", "version", version, "go", runtime.Version())

	store, fallback, err := openStore(ctx, cfg, log)
	if err != nil {
		log.Error("cannot set up the rate-limit store", "error", err.Error())
		return 2
	}
	defer store.close()
	defer fallback.Close()

	m := metrics.New(version)
	lim, err := limiter.New(limiter.Options{
		Store: store.Store, StoreName: store.name, Fallback: fallback,
		Timeout: cfg.StoreTimeout, Observer: m, Log: log,
	})
	if err != nil {
		log.Error("cannot create the limiter", "error", err.Error())
		return 1
	}
	resolver := identity.NewResolver(identity.Config{
		TrustedProxies: cfg.TrustedProxies,
		TrustedCallers: cfg.TrustedCallers,
		CallerSecret:   cfg.CallerSecret,
		Tokens:         tokenVerifier(ctx, cfg, log),
		DefaultTier:    cfg.Rules.DefaultTier,
		KnownTier:      func(t string) bool { _, ok := cfg.Rules.Tier(t); return ok },
	})
	if cfg.SkipRateLimit {
		log.Warn("SKIP_RATE_LIMIT=true: requests are proxied without rate limiting")
	}
	for _, line := range cfg.Rules.Summary() {
		log.Info("rule", "rule", line, "source", rulesSource(cfg))
	}
	log.Info("identity", "trusted_proxies", len(cfg.TrustedProxies), "trusted_callers", len(cfg.TrustedCallers),
		"caller_signatures", len(cfg.CallerSecret) > 0, "max_concurrent_requests", cfg.MaxConcurrentRequests)

	gw, err := httpgw.New(httpgw.Config{
		Upstream: cfg.Upstream, Rules: cfg.Rules, Identity: resolver, Limiter: lim, Metrics: m,
		MaxInFlight: cfg.MaxConcurrentRequests, SkipRateLimit: cfg.SkipRateLimit, Log: log,
	})
	if err != nil {
		log.Error("cannot create the gateway", "error", err.Error())
		return 1
	}

	var draining atomic.Bool
	ready := func(ctx context.Context) error {
		if draining.Load() {
			return errors.New("shutting down")
		}
		if err := lim.Ping(ctx); err != nil {
			return fmt.Errorf("%s store unreachable: %w", store.name, err)
		}
		return nil
	}
	errorLog := slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	public := newServer(gw, errorLog)
	admin := newServer(httpgw.AdminHandler(m.Handler(), ready), errorLog)

	publicLn, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		log.Error("cannot listen", "setting", "LISTEN_ADDR", "addr", cfg.ListenAddr, "error", err.Error())
		return 1
	}
	adminLn, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		publicLn.Close()
		log.Error("cannot listen", "setting", "ADMIN_ADDR", "addr", cfg.AdminAddr, "error", err.Error())
		return 1
	}
	log.Info("listening", "public", publicLn.Addr().String(), "admin", adminLn.Addr().String(), "upstream", cfg.Upstream.Redacted())
	if started != nil {
		started(publicLn.Addr(), adminLn.Addr())
	}

	serveErr := make(chan error, 2)
	go func() { serveErr <- public.Serve(publicLn) }()
	go func() { serveErr <- admin.Serve(adminLn) }()

	code := 0
	select {
	case <-ctx.Done():
		log.Info("signal received, draining", "timeout", cfg.DrainTimeout.String())
	case err := <-serveErr:
		log.Error("server stopped", "error", err.Error())
		code = 1
	}
	draining.Store(true)
	drainCtx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout)
	defer cancel()
	if err := public.Shutdown(drainCtx); err != nil {
		log.Warn("requests still in flight after the drain timeout", "error", err.Error())
	}
	_ = admin.Shutdown(drainCtx)
	log.Info("stopped")
	return code
}

// newServer sets timeouts against slow clients and bounds header size. The
// write timeout leaves room for the upstream's 60s response-header timeout.
func newServer(h http.Handler, errorLog *stdlog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      90 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          errorLog,
	}
}

// degradedLogInterval is how often a recurring store problem is logged,
// as the limiter does for degraded decisions.
const degradedLogInterval = 10 * time.Second

type namedStore struct {
	limiter.Store
	name  string
	close func()
}

// openStore picks Redis, Upstash or memory. Remote stores are pinged once
// so the log says at start whether they answer; a failure is not fatal,
// since /ready reports it and decisions follow the rules' store-down policy.
func openStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (namedStore, *memstore.Store, error) {
	fallback := memstore.New(time.Minute)
	var s namedStore
	switch {
	case cfg.Redis.URL != "":
		redisstore.SetLogger(log, degradedLogInterval)
		client, err := redisstore.NewClient(cfg.Redis)
		if err != nil {
			fallback.Close()
			return s, nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		rs := redisstore.New(client)
		s = namedStore{Store: rs, name: "redis", close: func() { rs.Close() }}
		log.Info("store: redis", "url", redactURL(cfg.Redis.URL), "cluster", isCluster(cfg.Redis), "timeout", cfg.StoreTimeout.String())
	case cfg.UpstashURL != "":
		us, err := upstash.New(cfg.UpstashURL, cfg.UpstashToken, cfg.StoreTimeout)
		if err != nil {
			fallback.Close()
			return s, nil, fmt.Errorf("UPSTASH_REDIS_REST_URL: %w", err)
		}
		s = namedStore{Store: us, name: "upstash", close: func() {}}
		log.Info("store: upstash REST", "url", redactURL(cfg.UpstashURL), "timeout", cfg.StoreTimeout.String())
	default:
		s = namedStore{Store: fallback, name: "memory", close: func() {}}
		log.Warn("store: in-memory (no REDIS_URL or UPSTASH_REDIS_REST_URL set); limits are per replica, run one replica or configure Redis")
		return s, fallback, nil
	}
	pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.Ping(pingCtx); err != nil {
		log.Warn("store not reachable at start; deciding by per-rule store-down policy until it is", "store", s.name, "error", err.Error())
	}
	return s, fallback, nil
}

func isCluster(c redisstore.ClientConfig) bool {
	u, err := url.Parse(c.URL)
	return c.Cluster || (err == nil && (u.Scheme == "redis+cluster" || u.Scheme == "rediss+cluster"))
}

// redactURL drops credentials for logs.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	u.User = nil
	return u.String()
}

func rulesSource(cfg *config.Config) string {
	if cfg.RulesFile == "" {
		return "built-in"
	}
	return cfg.RulesFile
}

// tokenVerifier returns the JWT verifier, or nil when tokens are not
// configured; it warms the key cache in the background.
func tokenVerifier(ctx context.Context, cfg *config.Config, log *slog.Logger) identity.TokenVerifier {
	if cfg.JWT == nil {
		log.Info("access tokens are not verified (STACK_AUTH_API_URL and STACK_AUTH_PROJECT_ID unset): requests count by client IP")
		return nil
	}
	jc := *cfg.JWT
	jc.Log = log
	v, err := identity.NewJWTVerifier(jc)
	if err != nil { // validated by config.Load already
		log.Error("access token verification disabled", "error", err.Error())
		return nil
	}
	log.Info("verifying Stack Auth access tokens", "issuer", v.Issuer(), "jwks", v.JWKSURL())
	go func() {
		if err := v.Refresh(ctx); err != nil {
			log.Warn("first JWKS fetch failed; tokens count as anonymous until keys load", "error", err.Error())
		}
	}()
	return v
}
