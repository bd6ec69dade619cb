// Package config reads the gateway's settings from flags and environment
// variables (a flag wins over its variable) and validates all of them at
// start, naming each bad setting.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/stackauth-platform/infra/ratelimit/identity"
	"github.com/stackauth-platform/infra/ratelimit/rules"
	"github.com/stackauth-platform/infra/ratelimit/store/redisstore"
)

// Config is the validated configuration.
type Config struct {
	ListenAddr string
	AdminAddr  string
	Upstream   *url.URL

	// Exactly one of Redis.URL and UpstashURL is set, or neither (memory).
	Redis        redisstore.ClientConfig
	UpstashURL   string
	UpstashToken string
	StoreTimeout time.Duration

	TrustedProxies identity.Prefixes
	TrustedCallers identity.Prefixes
	CallerSecret   []byte
	// JWT is nil when access tokens are not verified.
	JWT *identity.JWTConfig

	RulesFile     string // empty: built-in rules
	Rules         *rules.Set
	SkipRateLimit bool

	MaxConcurrentRequests int
	DrainTimeout          time.Duration
	LogLevel              slog.Level
	ShowVersion           bool
}

// setting is one environment variable and, unless secret, its flag.
type setting struct {
	env, flag, def, help string
	secret               bool // environment only: flags show up in ps
}

// settings lists every setting; the README's table follows it.
var settings = []setting{
	{env: "LISTEN_ADDR", flag: "listen-addr", def: ":8080", help: "public address (proxied API traffic)"},
	{env: "ADMIN_ADDR", flag: "admin-addr", def: ":9090", help: "admin address: /health, /ready, /metrics"},
	{env: "UPSTREAM_URL", flag: "upstream-url", help: "Stack Auth API to proxy to, e.g. http://stack-auth:8102 (required)"},
	{env: "REDIS_URL", flag: "redis-url", help: "redis://, rediss:// (TLS), redis+cluster:// or rediss+cluster:// URL; user and password in the URL"},
	{env: "REDIS_CLUSTER", flag: "redis-cluster", def: "false", help: "treat REDIS_URL as a Redis Cluster node"},
	{env: "REDIS_CA_FILE", flag: "redis-ca-file", help: "PEM CA bundle for a rediss:// server signed by a private CA"},
	{env: "UPSTASH_REDIS_REST_URL", flag: "upstash-redis-rest-url", help: "Upstash REST URL (instead of REDIS_URL)"},
	{env: "UPSTASH_REDIS_REST_TOKEN", secret: true, help: "Upstash REST token"},
	{env: "STORE_TIMEOUT", flag: "store-timeout", def: "100ms", help: "deadline of one decision on the store"},
	{env: "TRUSTED_PROXIES", flag: "trusted-proxies", help: "CIDRs whose X-Forwarded-For is believed, comma-separated"},
	{env: "TRUSTED_CALLERS", flag: "trusted-callers", help: "CIDRs (of the client IP) whose X-Rate-Limit-Tier / X-User-Id are honoured"},
	{env: "TRUSTED_CALLER_HMAC_SECRET", secret: true, help: "secret (32+ bytes) for X-Rate-Limit-Signature from trusted callers"},
	{env: "STACK_AUTH_API_URL", flag: "stack-auth-api-url", help: "public Stack Auth API URL tokens are issued under (NEXT_PUBLIC_STACK_API_URL)"},
	{env: "STACK_AUTH_PROJECT_ID", flag: "stack-auth-project-id", help: "Stack Auth project id: token audience and part of the issuer"},
	{env: "STACK_AUTH_JWKS_URL", flag: "stack-auth-jwks-url", help: "where to fetch the JWKS (default derived from STACK_AUTH_API_URL)"},
	{env: "RULES_FILE", flag: "rules-file", help: "YAML rules file replacing the built-in rules"},
	{env: "SKIP_RATE_LIMIT", flag: "skip-rate-limit", def: "false", help: "proxy everything without limiting (development)"},
	{env: "MAX_CONCURRENT_REQUESTS", flag: "max-concurrent-requests", def: "1000", help: "in-flight requests per replica before shedding with 503; 0 = no limit"},
	{env: "DRAIN_TIMEOUT", flag: "drain-timeout", def: "20s", help: "how long SIGTERM waits for requests in flight"},
	{env: "LOG_LEVEL", flag: "log-level", def: "info", help: "debug, info, warn or error"},
}

// Load reads args (without the program name) and the environment.
func Load(args []string, getenv func(string) string, usage io.Writer) (*Config, error) {
	fs := flag.NewFlagSet("ratelimit", flag.ContinueOnError)
	fs.SetOutput(usage)
	flagValues := map[string]*string{}
	for _, s := range settings {
		if s.secret {
			continue
		}
		flagValues[s.flag] = fs.String(s.flag, "", s.help+" (env "+s.env+defaultNote(s.def)+")")
	}
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q; settings are flags or environment variables", fs.Arg(0))
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	value := func(env string) string {
		for _, s := range settings {
			if s.env != env {
				continue
			}
			if !s.secret && explicit[s.flag] {
				return strings.TrimSpace(*flagValues[s.flag])
			}
			if v := strings.TrimSpace(getenv(env)); v != "" {
				return v
			}
			return s.def
		}
		panic("config: unknown setting " + env)
	}

	c := &Config{ShowVersion: *showVersion}
	if c.ShowVersion {
		return c, nil
	}
	p := &parser{value: value}
	c.ListenAddr = p.addr("LISTEN_ADDR")
	c.AdminAddr = p.addr("ADMIN_ADDR")
	if c.ListenAddr != "" && c.ListenAddr == c.AdminAddr && !strings.HasSuffix(c.ListenAddr, ":0") {
		p.fail("ADMIN_ADDR", errors.New("must differ from LISTEN_ADDR: metrics never go on the public port"))
	}
	c.Upstream = p.upstream("UPSTREAM_URL")
	c.StoreTimeout = p.duration("STORE_TIMEOUT", time.Millisecond, 10*time.Second)
	c.DrainTimeout = p.duration("DRAIN_TIMEOUT", 0, 10*time.Minute)
	c.SkipRateLimit = p.boolean("SKIP_RATE_LIMIT")
	c.MaxConcurrentRequests = p.nonNegativeInt("MAX_CONCURRENT_REQUESTS")
	c.LogLevel = p.logLevel("LOG_LEVEL")
	c.TrustedProxies = p.prefixes("TRUSTED_PROXIES",
		"any client could forge X-Forwarded-For; list only the proxies in front of the gateway, e.g. the edge's pod CIDR 10.0.0.0/16")
	c.TrustedCallers = p.prefixes("TRUSTED_CALLERS",
		"any client could claim any tier, admin included; list only your backends' CIDRs, or have them sign with TRUSTED_CALLER_HMAC_SECRET")
	if secret := value("TRUSTED_CALLER_HMAC_SECRET"); secret != "" {
		if len(secret) < 32 {
			p.fail("TRUSTED_CALLER_HMAC_SECRET", fmt.Errorf("must be at least 32 bytes, got %d; generate one with: openssl rand -hex 32", len(secret)))
		}
		c.CallerSecret = []byte(secret)
	}
	p.store(c)
	p.jwt(c)
	c.RulesFile = value("RULES_FILE")
	if c.RulesFile == "" {
		c.Rules = rules.Default()
	} else if set, err := rules.Load(c.RulesFile); err != nil {
		p.fail("RULES_FILE", fmt.Errorf("%s: %w", c.RulesFile, err))
	} else {
		c.Rules = set
	}
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return c, nil
}

func defaultNote(def string) string {
	if def == "" {
		return ""
	}
	return ", default " + def
}

// parser collects every error, so one start reports all bad settings.
type parser struct {
	value func(string) string
	errs  []error
}

func (p *parser) fail(name string, err error) {
	p.errs = append(p.errs, fmt.Errorf("%s: %w", name, err))
}

func (p *parser) addr(name string) string {
	v := p.value(name)
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		p.fail(name, fmt.Errorf("%q is not host:port (for example :8080)", v))
		return ""
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.fail(name, fmt.Errorf("port %q is not a number from 0 to 65535", port))
	}
	return net.JoinHostPort(host, port)
}

func (p *parser) upstream(name string) *url.URL {
	v := p.value(name)
	if v == "" {
		p.fail(name, errors.New("is required: the Stack Auth API to proxy to, e.g. http://stack-auth:8102"))
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.fail(name, fmt.Errorf("%q is not an http:// or https:// URL with a host", v))
		return nil
	}
	return u
}

func (p *parser) duration(name string, least, most time.Duration) time.Duration {
	v := p.value(name)
	d, err := time.ParseDuration(v)
	if err != nil || d < least || d > most {
		p.fail(name, fmt.Errorf("%q must be a duration from %v to %v, such as 100ms or 20s", v, least, most))
	}
	return d
}

func (p *parser) boolean(name string) bool {
	v := p.value(name)
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(name, fmt.Errorf("%q must be true or false", v))
	}
	return b
}

func (p *parser) nonNegativeInt(name string) int {
	v := p.value(name)
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		p.fail(name, fmt.Errorf("%q must be a whole number >= 0", v))
	}
	return n
}

func (p *parser) logLevel(name string) slog.Level {
	var level slog.Level
	if err := level.UnmarshalText([]byte(p.value(name))); err != nil {
		p.fail(name, fmt.Errorf("%q must be debug, info, warn or error", p.value(name)))
	}
	return level
}

// prefixes reads a trust list. A /0 (of either family) trusts the whole
// internet, which is never meant; risk says what it would allow.
func (p *parser) prefixes(name, risk string) identity.Prefixes {
	list, err := identity.ParsePrefixes(p.value(name))
	if err != nil {
		p.fail(name, err)
	}
	for _, prefix := range list {
		if prefix.Bits() == 0 {
			p.fail(name, fmt.Errorf("%q trusts every address, so %s", prefix, risk))
			break
		}
	}
	return list
}

func (p *parser) store(c *Config) {
	c.Redis = redisstore.ClientConfig{
		URL: p.value("REDIS_URL"), CAFile: p.value("REDIS_CA_FILE"),
		Cluster: p.boolean("REDIS_CLUSTER"), Timeout: c.StoreTimeout,
	}
	c.UpstashURL, c.UpstashToken = p.value("UPSTASH_REDIS_REST_URL"), p.value("UPSTASH_REDIS_REST_TOKEN")
	switch {
	case c.Redis.URL != "" && c.UpstashURL != "":
		p.fail("REDIS_URL", errors.New("set either REDIS_URL or UPSTASH_REDIS_REST_URL, not both"))
	case c.Redis.URL != "":
		client, err := redisstore.NewClient(c.Redis)
		if err != nil {
			p.fail("REDIS_URL", err)
			return
		}
		client.Close()
	case c.UpstashURL != "":
		u, err := url.Parse(c.UpstashURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			p.fail("UPSTASH_REDIS_REST_URL", errors.New("must be an https:// URL such as https://eu1-example.upstash.io"))
		}
		if c.UpstashToken == "" {
			p.fail("UPSTASH_REDIS_REST_TOKEN", errors.New("is required with UPSTASH_REDIS_REST_URL"))
		}
	default:
		if c.Redis.CAFile != "" || c.Redis.Cluster {
			p.fail("REDIS_URL", errors.New("REDIS_CA_FILE or REDIS_CLUSTER is set but REDIS_URL is empty"))
		}
		if c.UpstashToken != "" {
			p.fail("UPSTASH_REDIS_REST_URL", errors.New("UPSTASH_REDIS_REST_TOKEN is set but the URL is empty"))
		}
	}
}

func (p *parser) jwt(c *Config) {
	apiURL, project, jwksURL := p.value("STACK_AUTH_API_URL"), p.value("STACK_AUTH_PROJECT_ID"), p.value("STACK_AUTH_JWKS_URL")
	switch {
	case apiURL == "" && project == "":
		if jwksURL != "" {
			p.fail("STACK_AUTH_JWKS_URL", errors.New("needs STACK_AUTH_API_URL and STACK_AUTH_PROJECT_ID (issuer and audience)"))
		}
		return
	case apiURL == "":
		p.fail("STACK_AUTH_API_URL", errors.New("is required with STACK_AUTH_PROJECT_ID"))
		return
	case project == "":
		p.fail("STACK_AUTH_PROJECT_ID", errors.New("is required with STACK_AUTH_API_URL"))
		return
	}
	cfg := identity.JWTConfig{APIURL: apiURL, ProjectID: project, JWKSURL: jwksURL}
	if _, err := identity.NewJWTVerifier(cfg); err != nil {
		p.fail("STACK_AUTH_API_URL / STACK_AUTH_PROJECT_ID / STACK_AUTH_JWKS_URL", err)
		return
	}
	c.JWT = &cfg
}
