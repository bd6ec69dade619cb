package httpgw

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stackauth-platform/infra/ratelimit/identity"
	"github.com/stackauth-platform/infra/ratelimit/limiter"
	"github.com/stackauth-platform/infra/ratelimit/metrics"
	"github.com/stackauth-platform/infra/ratelimit/rules"
	"github.com/stackauth-platform/infra/ratelimit/store/memstore"
)

// upstream is a plain HTTP server standing in for the Stack Auth API; it
// records what reached it.
type upstream struct {
	*httptest.Server
	mu       sync.Mutex
	requests []*http.Request
	// block, when set, holds every request until it is closed.
	block chan struct{}
	// arrived is signalled for every request that came in.
	arrived chan struct{}
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{arrived: make(chan struct{}, 10000)}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.requests = append(u.requests, r.Clone(r.Context()))
		block := u.block
		u.mu.Unlock()
		u.arrived <- struct{}{}
		if block != nil {
			<-block
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.requests)
}

func (u *upstream) last() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.requests[len(u.requests)-1]
}

type options struct {
	store          limiter.Store
	storeName      string
	trustedProxies string
	trustedCallers string
	callerSecret   []byte
	maxInFlight    int
	skip           bool
	tokens         identity.TokenVerifier
}

type harness struct {
	gateway  *httptest.Server
	admin    *httptest.Server
	upstream *upstream
	metrics  *metrics.Metrics
	limiter  *limiter.Limiter
}

func newHarness(t *testing.T, up *upstream, opt options) *harness {
	t.Helper()
	ruleSet := rules.Default()
	fallback := memstore.New(time.Minute)
	t.Cleanup(fallback.Close)
	if opt.store == nil {
		opt.store, opt.storeName = fallback, "memory"
	}
	m := metrics.New("test")
	lim, err := limiter.New(limiter.Options{
		Store: opt.store, StoreName: opt.storeName, Fallback: fallback,
		Timeout: 200 * time.Millisecond, ProbeInterval: 200 * time.Millisecond, Observer: m,
	})
	if err != nil {
		t.Fatal(err)
	}
	proxies, err := identity.ParsePrefixes(opt.trustedProxies)
	if err != nil {
		t.Fatal(err)
	}
	callers, err := identity.ParsePrefixes(opt.trustedCallers)
	if err != nil {
		t.Fatal(err)
	}
	resolver := identity.NewResolver(identity.Config{
		TrustedProxies: proxies, TrustedCallers: callers, CallerSecret: opt.callerSecret,
		Tokens: opt.tokens, DefaultTier: ruleSet.DefaultTier,
		KnownTier: func(s string) bool { _, ok := ruleSet.Tier(s); return ok },
	})
	upURL, _ := url.Parse(up.URL)
	gw, err := New(Config{
		Upstream: upURL, Rules: ruleSet, Identity: resolver, Limiter: lim, Metrics: m,
		MaxInFlight: opt.maxInFlight, SkipRateLimit: opt.skip,
	})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{gateway: httptest.NewServer(gw), upstream: up, metrics: m, limiter: lim}
	h.admin = httptest.NewServer(AdminHandler(m.Handler(), lim.Ping))
	t.Cleanup(h.gateway.Close)
	t.Cleanup(h.admin.Close)
	return h
}

func (h *harness) do(t *testing.T, method, path string, headers map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, h.gateway.URL+path, strings.NewReader(`{"email":"a@example.com","password":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// metric reads one sample from the admin port's /metrics, 0 if absent.
func (h *harness) metric(t *testing.T, series string) float64 {
	t.Helper()
	resp, err := http.Get(h.admin.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if ok && name == series {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", series, err)
			}
			return v
		}
	}
	return 0
}
