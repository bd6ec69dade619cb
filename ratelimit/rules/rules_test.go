package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stackauth-platform/infra/ratelimit/limiter"
)

func TestDefaultsMatchTheGuide(t *testing.T) {
	s := Default()
	for tier, max := range map[string]int{"free": 100, "pro": 1000, "enterprise": 10000, "admin": 100000} {
		l, ok := s.Tier(tier)
		if !ok || l.Max != max || l.Window != time.Hour || l.Rule != TierRule {
			t.Errorf("tier %s = %+v, %v; want %d per hour", tier, l, ok, max)
		}
	}
	if s.DefaultTier != "free" {
		t.Errorf("default tier %q", s.DefaultTier)
	}
	for _, tc := range []struct {
		method, path string
		rule         string
		max          int
		window       time.Duration
		policy       limiter.Policy
	}{
		{"POST", "/api/auth/signin", "signin", 5, 15 * time.Minute, limiter.PolicyDeny},
		{"POST", "/api/v1/auth/password/sign-in", "signin", 5, 15 * time.Minute, limiter.PolicyDeny},
		{"POST", "/api/latest/auth/password/sign-in", "signin", 5, 15 * time.Minute, limiter.PolicyDeny},
		{"POST", "/api/v1/auth/password/sign-up", "signup", 3, time.Hour, limiter.PolicyDeny},
		{"POST", "/api/latest/auth/password/sign-up", "signup", 3, time.Hour, limiter.PolicyDeny},
		{"POST", "/api/auth/signup", "signup", 3, time.Hour, limiter.PolicyDeny},
		{"POST", "/api/auth/reset-password", "reset-password", 3, time.Hour, limiter.PolicyDeny},
		{"POST", "/api/v1/auth/password/send-reset-code", "reset-password", 3, time.Hour, limiter.PolicyDeny},
		{"POST", "/api/latest/auth/password/reset", "reset-password", 3, time.Hour, limiter.PolicyDeny},
		{"POST", "/api/payment", "payment", 10, time.Hour, limiter.PolicyLocal},
		{"GET", "/api/v1/payments/purchases/abc", "payment", 10, time.Hour, limiter.PolicyLocal},
		{"POST", "/api/latest/payments/checkout", "payment", 10, time.Hour, limiter.PolicyLocal},
	} {
		m := Default().Match(tc.method, tc.path)
		if len(m.Endpoints) != 1 {
			t.Errorf("%s %s matched %d endpoint rules, want 1 (%s)", tc.method, tc.path, len(m.Endpoints), tc.rule)
			continue
		}
		got := m.Endpoints[0]
		if got.Rule != tc.rule || got.Max != tc.max || got.Window != tc.window || got.OnStoreError != tc.policy {
			t.Errorf("%s %s -> %+v, want %s %d/%v %s", tc.method, tc.path, got, tc.rule, tc.max, tc.window, tc.policy)
		}
	}
}

func TestPathTricksStillMatch(t *testing.T) {
	s := Default()
	for _, p := range []string{
		"/api/v1/auth/password/sign-in/",
		"//api/v1//auth/password/sign-in",
		"/api/v1/auth/./password/sign-in",
		"/api/v1/auth/x/../password/sign-in",
		"/API/V1/Auth/Password/Sign-In",
		"api/latest/auth/password/sign-in",
	} {
		m := s.Match("post", p)
		if len(m.Endpoints) != 1 || m.Endpoints[0].Rule != "signin" {
			t.Errorf("%q escaped the sign-in rule: %+v", p, m)
		}
		if m.Route != "/api/v1/auth/password/sign-in" {
			t.Errorf("%q has route %q", p, m.Route)
		}
	}
	if m := s.Match("GET", "/api/v1/auth/password/sign-in"); len(m.Endpoints) != 0 {
		t.Errorf("GET matched the POST-only sign-in rule: %+v", m)
	}
	if m := s.Match("POST", "/api/v1/auth/password/sign-inx"); len(m.Endpoints) != 0 {
		t.Errorf("a longer path matched an exact pattern: %+v", m)
	}
	if m := s.Match("GET", "/api/v1/paymentsx"); len(m.Endpoints) != 0 {
		t.Errorf("/api/v1/paymentsx matched the /api/v1/payments/* prefix: %+v", m)
	}
}

func TestRouteLabels(t *testing.T) {
	s := Default()
	for path, want := range map[string]string{
		"/api/latest/auth/sessions/current/refresh": "/api/v1/auth/sessions/current/refresh",
		"/api/v1/users/me":                          "/api/v1/users/me",
		"/api/v1/users/4b1c-user-id":                "/api/v1/*",
		"/api/v1/auth/oauth/callback/github":        "/api/v1/auth/oauth/*",
		"/api/v1/payments/x/y":                      "/api/v1/payments/*",
		"/api/v1/auth/otp/sign-in":                  "/api/v1/auth/otp/sign-in",
		"/api/v1/auth/otp/send-sign-in-code":        "/api/v1/auth/otp/*",
		"/favicon.ico":                              OtherRoute,
		"/health":                                   OtherRoute,
	} {
		if got := s.Match("GET", path).Route; got != want {
			t.Errorf("route(%s) = %q, want %q", path, got, want)
		}
	}
}

func TestInvalidRulesNameTheField(t *testing.T) {
	base := "default_tier: free\ntiers:\n  free: {limit: 10, window: 1h}\n"
	for name, tc := range map[string]struct{ doc, want string }{
		"unknown default tier": {"default_tier: gold\ntiers:\n  free: {limit: 10, window: 1h}\n", `default_tier: unknown tier "gold"`},
		"zero limit":           {"default_tier: free\ntiers:\n  free: {limit: 0, window: 1h}\n", "tiers.free: limit must be between 1"},
		"negative limit":       {base + "endpoints:\n  - {name: x, limit: -1, window: 1m, paths: [/a]}\n", "endpoints[0] (x): limit must be between 1"},
		"bad window":           {base + "endpoints:\n  - {name: x, limit: 1, window: soon, paths: [/a]}\n", `endpoints[0] (x): window must be a duration such as 15m or 1h, got "soon"`},
		"tiny window":          {base + "endpoints:\n  - {name: x, limit: 1, window: 10ms, paths: [/a]}\n", "window must be between 1s"},
		"unknown field":        {base + "endpoint:\n  - {name: x}\n", `unknown field "endpoint"`},
		"bad policy":           {base + "endpoints:\n  - {name: x, limit: 1, window: 1m, on_store_error: maybe, paths: [/a]}\n", "on_store_error must be deny, local or allow"},
		"bad method":           {base + "endpoints:\n  - {name: x, limit: 1, window: 1m, methods: [FETCH], paths: [/a]}\n", `endpoints[0] (x).methods: unknown method "FETCH"`},
		"duplicate name":       {base + "endpoints:\n  - {name: x, limit: 1, window: 1m, paths: [/a]}\n  - {name: x, limit: 1, window: 1m, paths: [/b]}\n", `endpoints[1] (x).name: "x" is used twice`},
		"reserved name":        {base + "endpoints:\n  - {name: tier, limit: 1, window: 1m, paths: [/a]}\n", "reserved"},
		"no paths":             {base + "endpoints:\n  - {name: x, limit: 1, window: 1m}\n", "endpoints[0] (x).paths: at least one path"},
		"inner star":           {base + "endpoints:\n  - {name: x, limit: 1, window: 1m, paths: [/a/*/b]}\n", "'*' is only allowed"},
		"relative path":        {base + "routes: [api/v1]\n", `routes: "api/v1" must start with /`},
		"bad tier name":        {"default_tier: Free\ntiers:\n  Free: {limit: 1, window: 1h}\n", `tiers: name "Free"`},
		"no tiers":             {"default_tier: free\n", "tiers: at least one tier"},
		"not yaml":             {"tiers: [", "not a valid rules document"},
	} {
		_, err := Parse([]byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", name, err, tc.want)
		}
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	custom := filepath.Join(dir, "rules.yaml")
	doc := "default_tier: basic\ntiers:\n  basic: {limit: 7, window: 2m, on_store_error: allow}\nendpoints:\n  - {name: login, limit: 2, window: 30s, paths: [/api/v1/auth/password/sign-in]}\n"
	if err := os.WriteFile(custom, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Load(custom)
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := s.Tier("basic"); l.Max != 7 || l.Window != 2*time.Minute || l.OnStoreError != limiter.PolicyAllow {
		t.Errorf("tier basic = %+v", l)
	}
	if m := s.Match("POST", "/api/latest/auth/password/sign-in"); len(m.Endpoints) != 1 || m.Endpoints[0].OnStoreError != limiter.PolicyLocal {
		t.Errorf("custom endpoint rule: %+v", m)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("missing file loaded")
	}
	if string(DefaultYAML()) == "" || len(Default().Summary()) != 8 {
		t.Errorf("default summary: %v", Default().Summary())
	}
}

// Stack Auth serves every API version it knows (v1, v2beta1..., latest, and
// the migration folders) from the same handlers, so each spelling must land
// on the rule written under /api/v1/.
func TestEveryAPIVersionMatchesTheSameRule(t *testing.T) {
	s := Default()
	for _, p := range []string{
		"/api/v1/auth/password/sign-in",
		"/api/v2beta1/auth/password/sign-in",
		"/api/v2beta5/auth/password/sign-in",
		"/api/latest/auth/password/sign-in",
		"/api/v2/auth/password/sign-in",
		"/api/v3alpha2/auth/password/sign-in",
		"/API/V2BETA1/auth/password/sign-in",
		"/api/migrations/v2beta1/auth/password/sign-in",
	} {
		m := s.Match("POST", p)
		if len(m.Endpoints) != 1 || m.Endpoints[0].Rule != "signin" {
			t.Errorf("%s escaped the sign-in rule: %+v", p, m)
			continue
		}
		if want := "/api/v1" + p[strings.Index(strings.ToLower(p), "/auth/"):]; m.Route != want {
			t.Errorf("%s has route %q, want %q", p, m.Route, want)
		}
	}
	if m := s.Match("POST", "/api/auth/signin"); len(m.Endpoints) != 1 || m.Endpoints[0].Rule != "signin" || m.Route != "/api/auth/signin" {
		t.Errorf("the guide's /api/auth/signin: %+v", m)
	}
	if m := s.Match("POST", "/api/v2beta1/payments/checkout"); len(m.Endpoints) != 1 || m.Endpoints[0].Rule != "payment" {
		t.Errorf("a versioned prefix rule: %+v", m)
	}
	for _, v := range []string{"v1", "v2beta1", "v10rc3", "latest"} {
		if got := NormalizePath("/api/" + v + "/users/me"); got != "/api/v1/users/me" {
			t.Errorf("NormalizePath(/api/%s/users/me) = %q", v, got)
		}
	}
	for _, p := range []string{"/api/auth/signin", "/api/payment", "/api/v1beta-1/x", "/apiv2beta1/x", "/api"} {
		if got := NormalizePath(p); got != p {
			t.Errorf("NormalizePath(%s) = %q, want it unchanged", p, got)
		}
	}
}

// A second segment that is no version Stack Auth knows still counts against
// the rule: a 404 costs the sender its own budget, an unknown alias would
// otherwise cost nothing.
func TestUnknownAPIVersionFailsClosed(t *testing.T) {
	s := Default()
	for _, p := range []string{
		"/api/v2-beta1/auth/password/sign-in",
		"/api/2/auth/password/sign-in",
		"/api/next/auth/password/sign-in",
		"/api/migrations/whatever/auth/password/sign-in",
	} {
		m := s.Match("POST", p)
		if len(m.Endpoints) != 1 || m.Endpoints[0].Rule != "signin" {
			t.Errorf("%s escaped the sign-in rule: %+v", p, m)
		}
		if m.Route != OtherRoute {
			t.Errorf("%s has route %q, want %q (labels only name real routes)", p, m.Route, OtherRoute)
		}
	}
	if m := s.Match("POST", "/api/next/users/me"); len(m.Endpoints) != 0 {
		t.Errorf("a path under no rule matched: %+v", m)
	}
}

// Every POST route under Stack Auth's auth/ that checks a password, code or
// signature draws on the budget of the secret it tests (route files read in
// apps/backend/src/app/api/latest/auth/ of stack-auth/stack).
func TestCredentialCheckingRoutesAreLimited(t *testing.T) {
	s := Default()
	for path, rule := range map[string]string{
		"/api/v1/auth/password/sign-in":              "signin",
		"/api/v1/auth/password/update":               "signin", // checks old_password
		"/api/v1/auth/otp/sign-in":                   "signin",
		"/api/v1/auth/otp/sign-in/check-code":        "signin",
		"/api/v2beta1/auth/otp/sign-in/check-code":   "signin",
		"/api/v1/auth/mfa/sign-in":                   "signin",
		"/api/v1/auth/passkey/sign-in":               "signin",
		"/api/v1/auth/password/sign-up":              "signup",
		"/api/v1/auth/password/send-reset-code":      "reset-password",
		"/api/v1/auth/password/reset":                "reset-password",
		"/api/v1/auth/password/reset/check-code":     "reset-password",
		"/api/latest/auth/password/reset/check-code": "reset-password",
	} {
		m := s.Match("POST", path)
		if len(m.Endpoints) != 1 || m.Endpoints[0].Rule != rule {
			t.Errorf("POST %s matched %+v, want only %s", path, m.Endpoints, rule)
		}
	}
	// Routes that check nothing guessable stay on the tier limit only: a
	// refresh runs every few minutes per session, set needs a signed-in user
	// without a password, the others hand out challenges.
	for _, path := range []string{
		"/api/v1/auth/sessions/current/refresh",
		"/api/v1/auth/password/set",
		"/api/v1/auth/passkey/initiate-passkey-authentication",
		"/api/v1/auth/passkey/register",
		"/api/v1/auth/oauth/token",
	} {
		if m := s.Match("POST", path); len(m.Endpoints) != 0 {
			t.Errorf("POST %s matched %+v, want the tier limit only", path, m.Endpoints)
		}
	}
}
