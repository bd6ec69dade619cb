package delivery

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stackauth-platform/infra/ratelimit/identity"
)

const k6Script = repoRoot + "/tests/load-testing/k6/auth-flow.js"

// The guide's SLAs as k6 thresholds: p95 < 2 s, p99 < 5 s, errors < 5 %, sign-up p95 < 3 s,
// sign-in p95 < 1.5 s, token refresh p95 < 500 ms.
var guideThresholds = map[string][]string{
	"http_req_duration": {"p(95)<2000", "p(99)<5000"},
	"http_req_failed":   {"rate<0.05"},
	"signup_duration":   {"p(95)<3000"},
	"signin_duration":   {"p(95)<1500"},
	"refresh_duration":  {"p(95)<500"},
}

var k6Env = map[string]string{
	"BASE_URL":               "https://api.staging.example.test",
	"PROJECT_ID":             "proj-load",
	"PUBLISHABLE_CLIENT_KEY": "pck_load",
}

// runK6Shim evaluates the k6 script under node (tests/delivery/k6shim) and decodes what it prints.
func runK6Shim(t *testing.T, env map[string]string, args ...string) (map[string]any, string, error) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("node is required in CI to evaluate the k6 script")
		}
		t.Skip("node not installed")
	}
	cmd := exec.Command(node, append([]string{"k6shim/run.mjs"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for name, value := range env {
		cmd.Env = append(cmd.Env, name+"="+value)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, stderr.String(), err
	}
	var out map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("k6 shim printed no JSON: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	return out, stderr.String(), nil
}

func withEnv(extra map[string]string) map[string]string {
	env := maps.Clone(k6Env)
	maps.Copy(env, extra)
	return env
}

func TestK6ThresholdsAreTheGuideSLAs(t *testing.T) {
	out, stderr, err := runK6Shim(t, k6Env, "options", k6Script)
	if err != nil {
		t.Fatalf("evaluating %s: %v\n%s", k6Script, err, stderr)
	}
	options := out["options"].(map[string]any)
	thresholds := map[string][]string{}
	for metric, list := range options["thresholds"].(map[string]any) {
		for _, expr := range list.([]any) {
			text, ok := expr.(string)
			if !ok {
				t.Fatalf("threshold of %s is %v; keep thresholds as plain strings", metric, expr)
			}
			thresholds[metric] = append(thresholds[metric], strings.ReplaceAll(text, " ", ""))
		}
	}
	if !reflect.DeepEqual(thresholds, guideThresholds) {
		t.Errorf("thresholds %v\nwant the guide's %v", thresholds, guideThresholds)
	}
}

func TestK6ProfilesAndBadInput(t *testing.T) {
	profileShape := func(profile string) (stages int, peak float64) {
		out, stderr, err := runK6Shim(t, withEnv(map[string]string{"PROFILE": profile}), "options", k6Script)
		if err != nil {
			t.Fatalf("PROFILE=%s: %v\n%s", profile, err, stderr)
		}
		list := out["options"].(map[string]any)["stages"].([]any)
		for _, stage := range list {
			peak = max(peak, stage.(map[string]any)["target"].(float64))
		}
		last := list[len(list)-1].(map[string]any)["target"].(float64)
		if last != 0 {
			t.Errorf("PROFILE=%s does not ramp down to 0 VUs", profile)
		}
		return len(list), peak
	}
	shortStages, shortPeak := profileShape("short")
	longStages, longPeak := profileShape("long")
	if longPeak <= shortPeak || longStages <= shortStages {
		t.Errorf("long profile (%d stages, peak %v VUs) is not heavier than short (%d stages, peak %v)",
			longStages, longPeak, shortStages, shortPeak)
	}
	defaultStages, _ := profileShape("")
	if defaultStages != shortStages {
		t.Errorf("without PROFILE the script should run the short profile")
	}

	bad := map[string]struct {
		env  map[string]string
		want string
	}{
		"unknown profile":    {withEnv(map[string]string{"PROFILE": "soak"}), "PROFILE must be one of short, long"},
		"no project":         {map[string]string{"BASE_URL": "https://x.test", "PUBLISHABLE_CLIENT_KEY": "k"}, "set PROJECT_ID"},
		"base url with path": {withEnv(map[string]string{"BASE_URL": "https://x.test/api/v1"}), "BASE_URL must be an origin"},
	}
	for name, tc := range bad {
		t.Run(name, func(t *testing.T) {
			_, stderr, err := runK6Shim(t, tc.env, "options", k6Script)
			if err == nil {
				t.Fatalf("the script accepted it")
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("error does not say %q:\n%s", tc.want, stderr)
			}
		})
	}
}

type shimIteration struct {
	Requests []struct {
		Method  string            `json:"method"`
		URL     string            `json:"url"`
		Body    *string           `json:"body"`
		Headers map[string]string `json:"headers"`
		Tags    map[string]string `json:"tags"`
	} `json:"requests"`
	Checks []struct {
		Name   string `json:"name"`
		Passed bool   `json:"passed"`
	} `json:"checks"`
	Metrics map[string]struct {
		Type    string `json:"type"`
		IsTime  bool   `json:"isTime"`
		Samples []struct {
			Value float64 `json:"value"`
		} `json:"samples"`
	} `json:"metrics"`
}

func runIteration(t *testing.T, env map[string]string, rateLimitedPath string) shimIteration {
	t.Helper()
	args := []string{"iteration", k6Script}
	if rateLimitedPath != "" {
		args = append(args, rateLimitedPath)
	}
	out, stderr, err := runK6Shim(t, env, args...)
	if err != nil {
		t.Fatalf("iteration: %v\n%s", err, stderr)
	}
	data, _ := json.Marshal(out)
	var it shimIteration
	if err := json.Unmarshal(data, &it); err != nil {
		t.Fatal(err)
	}
	return it
}

// One iteration against the fake Stack Auth API: the flow, the headers, the tokens handed from one call to
// the next and the custom trends all have to line up with the real API's field names for every check to pass.
func TestK6IterationDrivesTheStackAuthFlow(t *testing.T) {
	const callerSecret = "load-test-caller-secret"
	it := runIteration(t, withEnv(map[string]string{"RATE_LIMIT_CALLER_SECRET": callerSecret, "RATE_LIMIT_TIER": "ADMIN"}), "")

	var route []string
	for _, r := range it.Requests {
		route = append(route, r.Method+" "+strings.TrimPrefix(r.URL, k6Env["BASE_URL"])+" ["+r.Tags["endpoint"]+"]")
	}
	wantRoute := []string{
		"POST /api/v1/auth/password/sign-up [sign-up]",
		"POST /api/v1/auth/password/sign-in [sign-in]",
		"POST /api/v1/auth/sessions/current/refresh [refresh]",
		"GET /api/v1/users/me [users-me]",
	}
	if !slices.Equal(route, wantRoute) {
		t.Fatalf("requests %q\nwant %q", route, wantRoute)
	}
	callers := map[string]bool{}
	for _, r := range it.Requests {
		for _, header := range []string{"x-stack-project-id", "x-stack-access-type", "x-stack-publishable-client-key"} {
			if r.Headers[header] == "" {
				t.Errorf("%s %s lacks header %s", r.Method, r.URL, header)
			}
		}
		if r.Tags["name"] == "" {
			t.Errorf("%s %s has no name tag (k6 would group results by full URL)", r.Method, r.URL)
		}
		// The gateway's own signing function must produce the signature the script sent.
		tier, user, signature := r.Headers[identity.TierHeader], r.Headers[identity.UserHeader], r.Headers[identity.SignatureHeader]
		callers[user] = true
		var unix int64
		if _, err := fmt.Sscanf(signature, "t=%d,", &unix); err != nil || tier != "admin" || user == "" {
			t.Errorf("%s %s: trusted-caller headers tier %q user %q signature %q", r.Method, r.URL, tier, user, signature)
			continue
		}
		path := strings.TrimPrefix(r.URL, k6Env["BASE_URL"])
		if want := identity.SignCaller([]byte(callerSecret), time.Unix(unix, 0), r.Method, path, tier, user); signature != want {
			t.Errorf("%s %s: signature %q, the gateway expects %q", r.Method, path, signature, want)
		}
		if age := time.Since(time.Unix(unix, 0)); age < -time.Minute || age > time.Minute {
			t.Errorf("%s %s: signature time %v is not now", r.Method, path, time.Unix(unix, 0))
		}
	}
	if len(callers) != 1 {
		t.Errorf("one iteration used the caller identities %v; it should be one identity", callers)
	}
	var signUp struct {
		Email                   string  `json:"email"`
		Password                string  `json:"password"`
		VerificationCallbackURL *string `json:"verification_callback_url"`
	}
	if err := json.Unmarshal([]byte(*it.Requests[0].Body), &signUp); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(signUp.Email, "@example.com") || signUp.VerificationCallbackURL != nil {
		t.Errorf("sign-up body %s: want a throw-away example.com user and no verification email", *it.Requests[0].Body)
	}

	for _, c := range it.Checks {
		if !c.Passed {
			t.Errorf("check %q failed against the fake API", c.Name)
		}
	}
	if len(it.Checks) < 8 {
		t.Errorf("only %d checks ran; the iteration stopped early", len(it.Checks))
	}
	for _, trend := range []string{"signup_duration", "signin_duration", "refresh_duration"} {
		m := it.Metrics[trend]
		if m.Type != "trend" || !m.IsTime || len(m.Samples) != 1 || m.Samples[0].Value <= 0 {
			t.Errorf("trend %s: %+v, want one timed sample per iteration", trend, m)
		}
	}
	if n := len(it.Metrics["rate_limited_responses"].Samples); n != 0 {
		t.Errorf("%d rate-limited responses counted without a 429", n)
	}
}

func TestK6IterationCountsTheRateLimiter(t *testing.T) {
	it := runIteration(t, k6Env, "/auth/password/sign-in")
	if len(it.Requests) != 2 {
		t.Errorf("%d requests after a 429 on sign-in; the iteration should stop there", len(it.Requests))
	}
	if n := len(it.Metrics["rate_limited_responses"].Samples); n != 1 {
		t.Errorf("rate_limited_responses has %d samples, want 1", n)
	}
	for _, r := range it.Requests {
		if r.Headers[identity.TierHeader] != "" || r.Headers[identity.SignatureHeader] != "" {
			t.Errorf("without RATE_LIMIT_CALLER_SECRET the script claims a tier: %v", r.Headers)
		}
	}
	failed := 0
	for _, c := range it.Checks {
		if !c.Passed {
			failed++
		}
	}
	if failed == 0 {
		t.Error("a 429 on sign-in passed every check")
	}
}
