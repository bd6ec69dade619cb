package config

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := Load(nil, env(map[string]string{"UPSTREAM_URL": "http://stack-auth:8102"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.ListenAddr != ":8080" || c.AdminAddr != ":9090" || c.StoreTimeout != 100*time.Millisecond ||
		c.MaxConcurrentRequests != 1000 || c.DrainTimeout != 20*time.Second || c.LogLevel != slog.LevelInfo ||
		c.SkipRateLimit || c.Redis.URL != "" || c.UpstashURL != "" || c.JWT != nil || c.Rules == nil {
		t.Errorf("defaults: %+v", c)
	}
}

func TestFlagsOverrideEnvironment(t *testing.T) {
	c, err := Load([]string{"-listen-addr", "127.0.0.1:18080", "-max-concurrent-requests", "5"},
		env(map[string]string{"UPSTREAM_URL": "http://up:1", "LISTEN_ADDR": ":7000", "MAX_CONCURRENT_REQUESTS": "9",
			"REDIS_URL": "rediss+cluster://:pw@cfg.cache.example:6379", "TRUSTED_PROXIES": "10.0.0.0/8",
			"STACK_AUTH_API_URL": "https://api.example.com", "STACK_AUTH_PROJECT_ID": "p1", "SKIP_RATE_LIMIT": "true"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.ListenAddr != "127.0.0.1:18080" || c.MaxConcurrentRequests != 5 {
		t.Errorf("flags did not win: %s %d", c.ListenAddr, c.MaxConcurrentRequests)
	}
	if c.Redis.URL == "" || len(c.TrustedProxies) != 1 || c.JWT == nil || c.JWT.ProjectID != "p1" || !c.SkipRateLimit {
		t.Errorf("environment not read: %+v", c)
	}
}

func TestInvalidSettingsAreNamed(t *testing.T) {
	dir := t.TempDir()
	badRules := filepath.Join(dir, "rules.yaml")
	os.WriteFile(badRules, []byte("default_tier: gold\ntiers:\n  free: {limit: 1, window: 1h}\n"), 0o600)
	zeroRules := filepath.Join(dir, "zero.yaml")
	os.WriteFile(zeroRules, []byte("default_tier: free\ntiers:\n  free: {limit: 0, window: 1h}\n"), 0o600)
	base := map[string]string{"UPSTREAM_URL": "http://up:1"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, "UPSTREAM_URL: is required"},
		{with("UPSTREAM_URL", "stack-auth:8102"), "UPSTREAM_URL: \"stack-auth:8102\" is not an http"},
		{with("LISTEN_ADDR", "8080"), "LISTEN_ADDR: \"8080\" is not host:port"},
		{with("ADMIN_ADDR", ":8080"), "ADMIN_ADDR: must differ from LISTEN_ADDR"},
		{with("REDIS_URL", "http://cache:6379"), "REDIS_URL: unsupported scheme"},
		{with("REDIS_URL", "redis://:secretpw@cache:port"), "REDIS_URL: not a valid URL"},
		{with("REDIS_URL", "redis://cache:6379", "UPSTASH_REDIS_REST_URL", "https://x.upstash.io", "UPSTASH_REDIS_REST_TOKEN", "t"), "set either REDIS_URL or UPSTASH_REDIS_REST_URL"},
		{with("UPSTASH_REDIS_REST_URL", "https://x.upstash.io"), "UPSTASH_REDIS_REST_TOKEN: is required"},
		{with("REDIS_CLUSTER", "yes-please"), "REDIS_CLUSTER: \"yes-please\" must be true or false"},
		{with("TRUSTED_PROXIES", "10.0.0.0/8,10.1.0.0/33"), "TRUSTED_PROXIES: \"10.1.0.0/33\" is not a CIDR"},
		{with("TRUSTED_CALLERS", "cluster.local"), "TRUSTED_CALLERS:"},
		{with("TRUSTED_PROXIES", "10.0.0.0/8,0.0.0.0/0"), `TRUSTED_PROXIES: "0.0.0.0/0" trusts every address, so any client could forge X-Forwarded-For`},
		{with("TRUSTED_PROXIES", "::/0"), `TRUSTED_PROXIES: "::/0" trusts every address`},
		{with("TRUSTED_CALLERS", "0.0.0.0/0,::/0"), `TRUSTED_CALLERS: "0.0.0.0/0" trusts every address`},
		{with("TRUSTED_CALLERS", "::/0"), `TRUSTED_CALLERS: "::/0" trusts every address`},
		{with("TRUSTED_CALLERS", "203.0.113.9/0"), `TRUSTED_CALLERS: "0.0.0.0/0" trusts every address, so any client could claim any tier`},
		{with("TRUSTED_CALLER_HMAC_SECRET", "short"), "TRUSTED_CALLER_HMAC_SECRET: must be at least 32 bytes"},
		{with("RULES_FILE", filepath.Join(dir, "missing.yaml")), "RULES_FILE: " + filepath.Join(dir, "missing.yaml")},
		{with("RULES_FILE", badRules), "RULES_FILE: " + badRules + `: default_tier: unknown tier "gold"`},
		{with("RULES_FILE", zeroRules), "tiers.free: limit must be between 1"},
		{with("STORE_TIMEOUT", "fast"), "STORE_TIMEOUT: \"fast\" must be a duration"},
		{with("STORE_TIMEOUT", "0s"), "STORE_TIMEOUT:"},
		{with("MAX_CONCURRENT_REQUESTS", "-1"), "MAX_CONCURRENT_REQUESTS: \"-1\" must be a whole number"},
		{with("SKIP_RATE_LIMIT", "maybe"), "SKIP_RATE_LIMIT:"},
		{with("LOG_LEVEL", "chatty"), "LOG_LEVEL:"},
		{with("STACK_AUTH_PROJECT_ID", "p1"), "STACK_AUTH_API_URL: is required"},
		{with("STACK_AUTH_API_URL", "https://api.example.com"), "STACK_AUTH_PROJECT_ID: is required"},
		{with("STACK_AUTH_API_URL", "api.example.com", "STACK_AUTH_PROJECT_ID", "p1"), "API URL must be an http(s) URL"},
		{with("STACK_AUTH_JWKS_URL", "https://api.example.com/jwks"), "STACK_AUTH_JWKS_URL: needs"},
	} {
		_, err := Load(nil, env(tc.env), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("env %v: error %v, want it to contain %q", tc.env, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "secretpw") {
			t.Errorf("error leaks a password: %v", err)
		}
	}
}

func TestAllErrorsReportedAtOnce(t *testing.T) {
	_, err := Load(nil, env(map[string]string{"LISTEN_ADDR": "x", "REDIS_URL": "ftp://y"}), io.Discard)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, name := range []string{"LISTEN_ADDR", "UPSTREAM_URL", "REDIS_URL"} {
		if !strings.Contains(err.Error(), name+":") {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestSecretsHaveNoFlags(t *testing.T) {
	if _, err := Load([]string{"-upstash-redis-rest-token", "t"}, env(nil), io.Discard); err == nil {
		t.Error("a secret was accepted as a flag")
	}
}
