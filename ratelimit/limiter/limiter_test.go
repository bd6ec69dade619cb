package limiter_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stackauth-platform/infra/ratelimit/limiter"
	"github.com/stackauth-platform/infra/ratelimit/store/memstore"
)

func TestStoreKeyLayout(t *testing.T) {
	for _, tc := range []struct {
		key  limiter.Key
		rule string
		want string
	}{
		{limiter.Key{Tier: "free", Subject: "ip:203.0.113.7"}, "signin", "@ratelimit:{free:ip:203.0.113.7}:signin"},
		{limiter.Key{Tier: "pro", Subject: "user:4b1c"}, "tier", "@ratelimit:{pro:user:4b1c}:tier"},
		{limiter.Key{Tier: "free", Subject: "ip:2001:db8::/64"}, "tier", "@ratelimit:{free:ip:2001:db8::/64}:tier"},
		// Braces in a subject would end the hash tag early; spaces and glob
		// characters would confuse redis-cli --scan patterns.
		{limiter.Key{Tier: "free", Subject: "user:a}b{c d*"}, "tier", "@ratelimit:{free:user:a%7Db%7Bc%20d%2A}:tier"},
	} {
		if got := tc.key.StoreKey(tc.rule); got != tc.want {
			t.Errorf("StoreKey = %q, want %q", got, tc.want)
		}
	}
	long := limiter.Key{Tier: "free", Subject: "user:" + strings.Repeat("x", 500)}
	if got := long.StoreKey("tier"); len(got) > 100 || !strings.Contains(got, "sha256-") {
		t.Errorf("long subject key %q", got)
	}
}

// flakyStore fails while down is set and counts calls.
type flakyStore struct {
	limiter.Store
	down  atomic.Bool
	calls atomic.Int64
}

func (f *flakyStore) Allow(ctx context.Context, key limiter.Key, limits []limiter.Limit) (limiter.Result, error) {
	f.calls.Add(1)
	if f.down.Load() {
		return limiter.Result{}, errors.New("connection refused")
	}
	return f.Store.Allow(ctx, key, limits)
}

type recorder struct {
	mu       sync.Mutex
	degraded map[string]int
	errors   int
}

func (r *recorder) StoreCall(_ string, err error, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.errors++
	}
}

func (r *recorder) Degraded(rule string, p limiter.Policy) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.degraded[rule+"/"+string(p)]++
}

func setup(t *testing.T) (*limiter.Limiter, *flakyStore, *recorder) {
	shared := memstore.New(time.Minute)
	fallback := memstore.New(time.Minute)
	t.Cleanup(shared.Close)
	t.Cleanup(fallback.Close)
	store := &flakyStore{Store: shared}
	rec := &recorder{degraded: map[string]int{}}
	l, err := limiter.New(limiter.Options{Store: store, StoreName: "test", Fallback: fallback, ProbeInterval: 100 * time.Millisecond, Observer: rec})
	if err != nil {
		t.Fatal(err)
	}
	return l, store, rec
}

var (
	tier   = limiter.Limit{Rule: "tier", Max: 3, Window: time.Hour, OnStoreError: limiter.PolicyLocal}
	signin = limiter.Limit{Rule: "signin", Max: 5, Window: time.Hour, OnStoreError: limiter.PolicyDeny}
	open   = limiter.Limit{Rule: "open", Max: 1, Window: time.Hour, OnStoreError: limiter.PolicyAllow}
	key    = limiter.Key{Tier: "free", Subject: "ip:192.0.2.1"}
)

func TestPoliciesWhileStoreDown(t *testing.T) {
	l, store, rec := setup(t)
	ctx := context.Background()
	store.down.Store(true)

	res := l.Allow(ctx, key, []limiter.Limit{tier, signin})
	if res.Allowed || !res.StoreDown || !res.Degraded {
		t.Errorf("deny rule with store down: %+v, want refused with StoreDown", res)
	}
	if d, ok := res.DeniedBy(); !ok || d.Limit.Rule != "signin" || res.RetryAfter() <= 0 {
		t.Errorf("refusal names %+v, RetryAfter %v", d, res.RetryAfter())
	}

	// Local rules are enforced per replica: 3 per hour, then refused.
	for i := 0; i < 3; i++ {
		if res := l.Allow(ctx, key, []limiter.Limit{tier, open}); !res.Allowed || !res.Degraded {
			t.Fatalf("local request %d: %+v", i+1, res)
		}
	}
	res = l.Allow(ctx, key, []limiter.Limit{tier, open})
	if res.Allowed || res.StoreDown {
		t.Errorf("4th local request: %+v, want a plain refusal by the fallback", res)
	}
	if len(res.Rules) != 1 || res.Rules[0].Limit.Rule != "tier" {
		t.Errorf("fail-open rule should not be reported as enforced: %+v", res.Rules)
	}
	if res := l.Allow(ctx, key, []limiter.Limit{open}); !res.Allowed {
		t.Errorf("allow-policy rule with store down: %+v", res)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	want := map[string]int{"signin/deny": 1, "tier/local": 5, "open/allow": 5}
	for k, v := range want {
		if rec.degraded[k] != v {
			t.Errorf("degraded[%s] = %d, want %d (all: %v)", k, rec.degraded[k], v, rec.degraded)
		}
	}
}

func TestBreakerProbesOnceThenRecovers(t *testing.T) {
	l, store, _ := setup(t)
	ctx := context.Background()
	store.down.Store(true)
	l.Allow(ctx, key, []limiter.Limit{tier})
	if store.calls.Load() != 1 {
		t.Fatalf("%d store calls", store.calls.Load())
	}
	// Inside the probe interval the store is not tried at all.
	for i := 0; i < 20; i++ {
		l.Allow(ctx, key, []limiter.Limit{tier})
	}
	if store.calls.Load() != 1 {
		t.Errorf("%d store calls during the probe interval, want 1", store.calls.Load())
	}
	time.Sleep(120 * time.Millisecond)
	// After it, concurrent requests send one probe between them.
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); l.Allow(ctx, key, []limiter.Limit{tier}) }()
	}
	wg.Wait()
	if store.calls.Load() != 2 {
		t.Errorf("%d store calls after the interval, want 2 (one probe)", store.calls.Load())
	}
	store.down.Store(false)
	time.Sleep(120 * time.Millisecond)
	if res := l.Allow(ctx, key, []limiter.Limit{tier}); res.Degraded {
		t.Errorf("after recovery the decision is still degraded: %+v", res)
	}
	if res := l.Allow(ctx, key, []limiter.Limit{tier}); res.Degraded || store.calls.Load() != 4 {
		t.Errorf("store not used after recovery: %+v, %d calls", res, store.calls.Load())
	}
}

func TestCancelledClientDoesNotTripBreaker(t *testing.T) {
	l, store, _ := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	store.down.Store(true) // the failure coincides with the cancellation
	l.Allow(ctx, key, []limiter.Limit{tier})
	store.down.Store(false)
	if res := l.Allow(context.Background(), key, []limiter.Limit{tier}); res.Degraded {
		t.Errorf("a cancelled request opened the breaker: %+v", res)
	}
}

func TestNewRequiresStore(t *testing.T) {
	if _, err := limiter.New(limiter.Options{}); err == nil {
		t.Error("New without a store succeeded")
	}
}
