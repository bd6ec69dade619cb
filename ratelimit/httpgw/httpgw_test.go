package httpgw

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stackauth-platform/infra/ratelimit/identity"
	"github.com/stackauth-platform/infra/ratelimit/internal/redistest"
	"github.com/stackauth-platform/infra/ratelimit/store/redisstore"
)

const signIn = "/api/v1/auth/password/sign-in"

func redisStore(t *testing.T, srv *redistest.Server) *redisstore.Store {
	t.Helper()
	client, err := redisstore.NewClient(redisstore.ClientConfig{URL: srv.URL(), Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s := redisstore.New(client)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSignInFiveProxiedFiveRefused(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t, redistest.Options{})
	h := newHarness(t, newUpstream(t), options{store: redisStore(t, srv), storeName: "redis"})
	var codes []int
	for i := 0; i < 10; i++ {
		req, _ := http.NewRequest("POST", h.gateway.URL+signIn, strings.NewReader("{}"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
		switch resp.StatusCode {
		case http.StatusOK:
			if got := resp.Header.Get("RateLimit-Policy"); got != `"tier";q=100;w=3600, "signin";q=5;w=900` {
				t.Errorf("RateLimit-Policy %q", got)
			}
			want := `"tier";r=` + strconv.Itoa(99-i) + `;t=3600, "signin";r=` + strconv.Itoa(4-i) + `;t=900`
			if got := resp.Header.Get("RateLimit"); got != want {
				t.Errorf("RateLimit %q, want %q", got, want)
			}
		case http.StatusTooManyRequests:
			retry, err := strconv.Atoi(resp.Header.Get("Retry-After"))
			if err != nil || retry < 890 || retry > 900 {
				t.Errorf("Retry-After %q, want whole seconds close to 900", resp.Header.Get("Retry-After"))
			}
			var doc struct {
				Error, Rule string
				RetryAfter  int `json:"retry_after"`
			}
			if err := json.Unmarshal(body, &doc); err != nil || doc.Error != "rate_limited" || doc.Rule != "signin" || doc.RetryAfter != retry {
				t.Errorf("429 body %s (%v)", body, err)
			}
		}
	}
	want := []int{200, 200, 200, 200, 200, 429, 429, 429, 429, 429}
	if !equalInts(codes, want) {
		t.Errorf("codes %v, want %v", codes, want)
	}
	if h.upstream.count() != 5 {
		t.Errorf("upstream saw %d requests, want 5", h.upstream.count())
	}
	if got := h.metric(t, `rate_limit_exceeded_total{rule="signin",tier="free"}`); got != 5 {
		t.Errorf("rate_limit_exceeded_total = %v, want 5", got)
	}
	if got := h.metric(t, `http_requests_total{code="429",method="POST",route="/api/v1/auth/password/sign-in"}`); got != 5 {
		t.Errorf("http_requests_total for 429 = %v, want 5", got)
	}
	if got := h.metric(t, `redis_operations_total{result="ok",store="redis"}`); got != 10 {
		t.Errorf("redis_operations_total = %v, want 10 (one per decision)", got)
	}
}

// Stack Auth routes every API version to the same sign-in handler, so the
// versions share one sign-in budget per client.
func TestSignInBudgetSharedAcrossAPIVersions(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t, redistest.Options{})
	h := newHarness(t, newUpstream(t), options{store: redisStore(t, srv), storeName: "redis"})
	versions := []string{"v1", "v2beta1", "latest", "v2beta5", "v3alpha2", "v2beta1", "v2beta5", "latest", "v1", "V2Beta1"}
	var codes []int
	for _, v := range versions {
		codes = append(codes, h.do(t, "POST", "/api/"+v+"/auth/password/sign-in", nil).StatusCode)
	}
	want := []int{200, 200, 200, 200, 200, 429, 429, 429, 429, 429}
	if !equalInts(codes, want) {
		t.Errorf("codes %v for versions %v, want %v", codes, versions, want)
	}
	if h.upstream.count() != 5 {
		t.Errorf("upstream saw %d sign-ins, want 5", h.upstream.count())
	}
	if got := h.metric(t, `http_requests_total{code="429",method="POST",route="/api/v1/auth/password/sign-in"}`); got != 5 {
		t.Errorf("429s under the canonical route label = %v, want 5", got)
	}
}

// The routes that test a code or password without signing in draw on the
// same budget as the action they preview, so they are no side door.
func TestCodeChecksShareTheirActionsBudget(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t, redistest.Options{})
	h := newHarness(t, newUpstream(t), options{store: redisStore(t, srv), storeName: "redis"})
	for _, tc := range []struct {
		spend, probe string
		times        int
	}{
		{"/api/v1/auth/password/sign-in", "/api/v1/auth/otp/sign-in/check-code", 5},
		{"", "/api/v2beta1/auth/passkey/sign-in", 0},
		{"", "/api/latest/auth/password/update", 0},
		{"/api/v1/auth/password/send-reset-code", "/api/v1/auth/password/reset/check-code", 3},
	} {
		for i := 0; i < tc.times; i++ {
			if code := h.do(t, "POST", tc.spend, nil).StatusCode; code != http.StatusOK {
				t.Fatalf("%s #%d: %d, want 200", tc.spend, i+1, code)
			}
		}
		if code := h.do(t, "POST", tc.probe, nil).StatusCode; code != http.StatusTooManyRequests {
			t.Errorf("%s after the budget was used: %d, want 429", tc.probe, code)
		}
	}
	if h.upstream.count() != 8 {
		t.Errorf("upstream saw %d requests, want 8 (5 sign-ins, 3 reset codes)", h.upstream.count())
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRotatingForwardedForFromUntrustedPeer(t *testing.T) {
	t.Parallel()
	// The test client (127.0.0.1) is not among the trusted proxies.
	h := newHarness(t, newUpstream(t), options{trustedProxies: "10.0.0.0/8"})
	admitted := 0
	for i := 0; i < 10; i++ {
		resp := h.do(t, "POST", signIn, map[string]string{"X-Forwarded-For": "198.51.100." + strconv.Itoa(i)})
		if resp.StatusCode == http.StatusOK {
			admitted++
		}
	}
	if admitted != 5 {
		t.Errorf("%d of 10 sign-ins with rotating X-Forwarded-For admitted, want 5", admitted)
	}
	if got := h.upstream.last().Header.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Errorf("upstream X-Forwarded-For %q, want only the real peer", got)
	}
}

func TestClientsBehindTrustedProxy(t *testing.T) {
	t.Parallel()
	h := newHarness(t, newUpstream(t), options{trustedProxies: "127.0.0.0/8"})
	for client := 0; client < 3; client++ {
		admitted := 0
		for i := 0; i < 7; i++ {
			xff := "203.0.113.200, 198.51.100." + strconv.Itoa(client) // the left entry is client-written
			if h.do(t, "POST", signIn, map[string]string{"X-Forwarded-For": xff}).StatusCode == http.StatusOK {
				admitted++
			}
		}
		if admitted != 5 {
			t.Errorf("client %d: %d admitted, want 5", client, admitted)
		}
	}
	if got := h.upstream.last().Header.Get("X-Forwarded-For"); got != "203.0.113.200, 198.51.100.2, 127.0.0.1" {
		t.Errorf("upstream X-Forwarded-For %q", got)
	}
}

func TestTierHeaderFromUntrustedPeerIgnored(t *testing.T) {
	t.Parallel()
	h := newHarness(t, newUpstream(t), options{trustedCallers: "10.9.0.0/16"})
	headers := map[string]string{identity.TierHeader: "admin", identity.UserHeader: "victim"}
	for i := 0; i < 100; i++ {
		if code := h.do(t, "GET", "/api/v1/users/me", headers).StatusCode; code != http.StatusOK {
			t.Fatalf("request %d: %d", i+1, code)
		}
	}
	resp := h.do(t, "GET", "/api/v1/users/me", headers)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("101st request with X-Rate-Limit-Tier: admin: %d, want 429 (free tier is 100/h)", resp.StatusCode)
	}
	if got := h.metric(t, `rate_limit_exceeded_total{rule="tier",tier="free"}`); got != 1 {
		t.Errorf("rate_limit_exceeded_total{rule=tier,tier=free} = %v", got)
	}
	if r := h.upstream.last(); r.Header.Get(identity.TierHeader) != "" || r.Header.Get(identity.UserHeader) != "" {
		t.Errorf("control headers reached the upstream: %v", r.Header)
	}
}

func TestTrustedCallerLiftsTier(t *testing.T) {
	t.Parallel()
	secret := []byte("caller-secret-caller-secret-1234")
	h := newHarness(t, newUpstream(t), options{trustedCallers: "127.0.0.1/32"})
	for i := 0; i < 120; i++ {
		resp := h.do(t, "GET", "/api/v1/users/me", map[string]string{identity.TierHeader: "pro", identity.UserHeader: "user123"})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d from a trusted caller with tier pro: %d", i+1, resp.StatusCode)
		}
		if i == 0 && !strings.HasPrefix(resp.Header.Get("RateLimit-Policy"), `"tier";q=1000;`) {
			t.Errorf("policy %q, want the pro tier", resp.Header.Get("RateLimit-Policy"))
		}
	}

	signed := newHarness(t, newUpstream(t), options{callerSecret: secret})
	path := "/api/v1/users/me"
	sig := identity.SignCaller(secret, time.Now(), "GET", path, "enterprise", "u-7")
	resp := signed.do(t, "GET", path, map[string]string{identity.TierHeader: "enterprise", identity.UserHeader: "u-7", identity.SignatureHeader: sig})
	if !strings.HasPrefix(resp.Header.Get("RateLimit-Policy"), `"tier";q=10000;`) {
		t.Errorf("signed caller policy %q, want the enterprise tier", resp.Header.Get("RateLimit-Policy"))
	}
	if signed.upstream.last().Header.Get(identity.SignatureHeader) != "" {
		t.Error("signature header reached the upstream")
	}
}

func TestTraceContextPropagation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, newUpstream(t), options{})
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	h.do(t, "GET", "/api/v1/users/me", map[string]string{"traceparent": tp, "tracestate": "vendor=abc"})
	got := h.upstream.last().Header
	if got.Get("Traceparent") != tp || got.Get("Tracestate") != "vendor=abc" {
		t.Errorf("upstream trace headers %q %q", got.Get("Traceparent"), got.Get("Tracestate"))
	}
	for _, bad := range []string{
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",      // missing flags
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",   // zero trace id
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // forbidden version
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   // upper case
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", // extra field in version 00
	} {
		h.do(t, "GET", "/api/v1/users/me", map[string]string{"traceparent": bad, "tracestate": "vendor=abc"})
		if got := h.upstream.last().Header; got.Get("Traceparent") != "" || got.Get("Tracestate") != "" {
			t.Errorf("malformed traceparent %q passed on as %q / %q", bad, got.Get("Traceparent"), got.Get("Tracestate"))
		}
	}
	if !validTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future") {
		t.Error("a later version with extra fields must be accepted")
	}
}

func TestShedsOverInFlightLimitAndRecovers(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	up.block = make(chan struct{})
	const limit = 4
	h := newHarness(t, up, options{maxInFlight: limit})

	var wg sync.WaitGroup
	slowCodes := make(chan int, limit)
	for i := 0; i < limit; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(h.gateway.URL + "/api/v1/users/me")
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			slowCodes <- resp.StatusCode
		}()
	}
	for i := 0; i < limit; i++ {
		select {
		case <-up.arrived:
		case <-time.After(5 * time.Second):
			t.Fatal("slow requests did not reach the upstream")
		}
	}
	for i := 0; i < 3; i++ {
		start := time.Now()
		resp := h.do(t, "GET", "/api/v1/users/me", nil)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
			t.Errorf("request over the in-flight limit: %d Retry-After %q, want 503 and 1", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("shedding took %v; it must not wait", took)
		}
	}
	if got := h.metric(t, "http_requests_shed_total"); got != 3 {
		t.Errorf("http_requests_shed_total = %v, want 3", got)
	}
	if got := h.metric(t, "http_requests_in_flight"); got != limit {
		t.Errorf("http_requests_in_flight = %v, want %d", got, limit)
	}

	up.mu.Lock()
	close(up.block)
	up.block = nil
	up.mu.Unlock()
	wg.Wait()
	close(slowCodes)
	for code := range slowCodes {
		if code != http.StatusOK {
			t.Errorf("held request finished with %d", code)
		}
	}
	for i := 0; i < 2*limit; i++ {
		if code := h.do(t, "GET", "/api/v1/users/me", nil).StatusCode; code != http.StatusOK {
			t.Errorf("after recovery: %d, want 200", code)
		}
	}
	if got := h.metric(t, "http_requests_shed_total"); got != 3 {
		t.Errorf("after recovery http_requests_shed_total = %v, want still 3", got)
	}
}

func TestRedisDownAppliesPolicies(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t, redistest.Options{})
	h := newHarness(t, newUpstream(t), options{store: redisStore(t, srv), storeName: "redis"})
	if code := h.do(t, "GET", "/api/v1/users/me", nil).StatusCode; code != http.StatusOK {
		t.Fatalf("with Redis up: %d", code)
	}
	resp, err := http.Get(h.admin.URL + "/ready")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/ready with Redis up: %v %v", resp.StatusCode, err)
	}

	srv.Stop()
	start := time.Now()
	resp = h.do(t, "POST", signIn, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("sign-in with Redis down: %d Retry-After %q, want 503 (fail closed)", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("decision with Redis down took %v", took)
	}
	// The tier rule falls back to a per-replica limiter.
	for i := 0; i < 5; i++ {
		if code := h.do(t, "GET", "/api/v1/users/me", nil).StatusCode; code != http.StatusOK {
			t.Errorf("users/me with Redis down: %d, want 200 from the local fallback", code)
		}
	}
	if got := h.metric(t, `rate_limit_degraded_decisions_total{policy="deny",rule="signin"}`); got != 1 {
		t.Errorf("degraded signin decisions = %v, want 1", got)
	}
	if got := h.metric(t, `rate_limit_degraded_decisions_total{policy="local",rule="tier"}`); got != 6 {
		t.Errorf("degraded tier decisions = %v, want 6", got)
	}
	if got := h.metric(t, `rate_limit_exceeded_total{rule="signin",tier="free"}`); got != 0 {
		t.Errorf("a store outage was counted as rate limiting: %v", got)
	}
	resp, err = http.Get(h.admin.URL + "/ready")
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/ready with Redis down: %v %v, want 503", resp.StatusCode, err)
	}

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		code := h.do(t, "POST", signIn, nil).StatusCode
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sign-in still %d 5s after Redis came back", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestSkipRateLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, newUpstream(t), options{skip: true})
	for i := 0; i < 20; i++ {
		resp := h.do(t, "POST", signIn, nil)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("RateLimit") != "" {
			t.Fatalf("SKIP_RATE_LIMIT request %d: %d %q", i+1, resp.StatusCode, resp.Header.Get("RateLimit"))
		}
	}
}

func TestUpstreamDown(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	h := newHarness(t, up, options{})
	up.Close()
	if code := h.do(t, "GET", "/api/v1/users/me", nil).StatusCode; code != http.StatusBadGateway {
		t.Errorf("upstream down: %d, want 502", code)
	}
	if got := h.metric(t, "upstream_errors_total"); got != 1 {
		t.Errorf("upstream_errors_total = %v", got)
	}
}
