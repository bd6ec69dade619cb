// Package storetest is the behaviour every limiter.Store must show, run by
// each store's tests against the real backend: exact counts under
// concurrency, all-or-nothing decisions, sliding (not fixed) windows and
// Retry-After values that say when the next request is admitted.
package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stackauth-platform/infra/ratelimit/limiter"
)

// NewStore returns a store instance; instances from one NewStore share a
// backend, as replicas share one Redis.
type NewStore func(t *testing.T) limiter.Store

// Run runs the whole suite.
func Run(t *testing.T, newStore NewStore) {
	t.Run("AdmitsUpToMaxThenRefuses", func(t *testing.T) { t.Parallel(); admitsUpToMax(t, newStore(t)) })
	t.Run("RefusalConsumesNothing", func(t *testing.T) { t.Parallel(); refusalConsumesNothing(t, newStore(t)) })
	t.Run("LoweredLimit", func(t *testing.T) { t.Parallel(); loweredLimit(t, newStore(t)) })
	t.Run("NoDoubleBurstAtBoundary", func(t *testing.T) { t.Parallel(); noDoubleBurst(t, newStore(t)) })
	t.Run("RetryAfterTracksOldest", func(t *testing.T) { t.Parallel(); retryAfterTracksOldest(t, newStore(t)) })
	t.Run("SaturatingClientGetsNPerWindow", func(t *testing.T) { t.Parallel(); saturatingClient(t, newStore(t)) })
	t.Run("ExactUnderConcurrency", func(t *testing.T) { t.Parallel(); Exactness(t, newStore, 3, 5) })
}

var subjectSeq atomic.Int64

// UniqueKey returns a key no other test uses, also across test runs.
func UniqueKey(t *testing.T) limiter.Key {
	return limiter.Key{Tier: "test", Subject: fmt.Sprintf("%s-%d-%d", t.Name(), time.Now().UnixNano(), subjectSeq.Add(1))}
}

func mustAllow(t *testing.T, s limiter.Store, key limiter.Key, limits ...limiter.Limit) limiter.Result {
	t.Helper()
	res, err := s.Allow(context.Background(), key, limits)
	if err != nil {
		t.Fatalf("Allow: %v", err)
	}
	if len(res.Rules) != len(limits) {
		t.Fatalf("Allow returned %d rule states for %d limits", len(res.Rules), len(limits))
	}
	return res
}

func within(t *testing.T, what string, got, want, tolerance time.Duration) {
	t.Helper()
	if got < want-tolerance || got > want+tolerance {
		t.Errorf("%s = %v, want %v ± %v", what, got, want, tolerance)
	}
}

func admitsUpToMax(t *testing.T, s limiter.Store) {
	key := UniqueKey(t)
	lim := limiter.Limit{Rule: "r", Max: 5, Window: 10 * time.Second}
	for i := 0; i < 5; i++ {
		res := mustAllow(t, s, key, lim)
		if !res.Allowed {
			t.Fatalf("request %d refused, want admitted", i+1)
		}
		if got := res.Rules[0].Remaining; got != 4-i {
			t.Errorf("request %d: remaining %d, want %d", i+1, got, 4-i)
		}
		if res.RetryAfter() != 0 {
			t.Errorf("request %d admitted with RetryAfter %v", i+1, res.RetryAfter())
		}
	}
	res := mustAllow(t, s, key, lim)
	if res.Allowed {
		t.Fatal("6th request admitted, limit is 5")
	}
	if res.Rules[0].Remaining != 0 {
		t.Errorf("remaining after refusal %d, want 0", res.Rules[0].Remaining)
	}
	within(t, "RetryAfter", res.RetryAfter(), 10*time.Second, 500*time.Millisecond)
	if denied, ok := res.DeniedBy(); !ok || denied.Limit.Rule != "r" {
		t.Errorf("DeniedBy = %+v, %v; want rule r", denied, ok)
	}
}

func refusalConsumesNothing(t *testing.T, s limiter.Store) {
	key := UniqueKey(t)
	tight := limiter.Limit{Rule: "tight", Max: 2, Window: time.Minute}
	wide := limiter.Limit{Rule: "wide", Max: 5, Window: time.Minute}
	for i := 0; i < 2; i++ {
		if !mustAllow(t, s, key, tight, wide).Allowed {
			t.Fatalf("request %d refused", i+1)
		}
	}
	for i := 0; i < 3; i++ {
		res := mustAllow(t, s, key, tight, wide)
		if res.Allowed {
			t.Fatal("third request admitted past the tight rule")
		}
		if res.Rules[0].RetryAfter <= 0 || res.Rules[1].RetryAfter != 0 {
			t.Errorf("retry per rule = %v, %v; want only the tight rule to refuse", res.Rules[0].RetryAfter, res.Rules[1].RetryAfter)
		}
		if res.Rules[1].Remaining != 3 {
			t.Errorf("wide rule remaining %d during refusals, want 3 (refusals must not count)", res.Rules[1].Remaining)
		}
	}
	// Only the two admitted requests are in the wide rule's log.
	res := mustAllow(t, s, key, wide)
	if !res.Allowed || res.Rules[0].Remaining != 2 {
		t.Errorf("wide rule alone: allowed=%v remaining=%d, want true 2", res.Allowed, res.Rules[0].Remaining)
	}
}

func loweredLimit(t *testing.T, s limiter.Store) {
	key := UniqueKey(t)
	for i := 0; i < 5; i++ {
		mustAllow(t, s, key, limiter.Limit{Rule: "r", Max: 5, Window: 4 * time.Second})
		time.Sleep(100 * time.Millisecond)
	}
	// Five entries, now at most two: the fourth oldest must expire first.
	res := mustAllow(t, s, key, limiter.Limit{Rule: "r", Max: 2, Window: 4 * time.Second})
	if res.Allowed {
		t.Fatal("admitted with 5 logged and a limit of 2")
	}
	within(t, "RetryAfter", res.RetryAfter(), 4*time.Second-200*time.Millisecond, 150*time.Millisecond)
}

// noDoubleBurst fills the limit just before a whole-second boundary, where a
// fixed window would reset, and checks the next second admits nothing.
func noDoubleBurst(t *testing.T, s limiter.Store) {
	key := UniqueKey(t)
	lim := limiter.Limit{Rule: "r", Max: 5, Window: time.Second}
	now := time.Now()
	time.Sleep(now.Truncate(time.Second).Add(1700 * time.Millisecond).Sub(now))
	for i := 0; i < 5; i++ {
		if !mustAllow(t, s, key, lim).Allowed {
			t.Fatalf("request %d refused", i+1)
		}
	}
	now = time.Now()
	time.Sleep(now.Truncate(time.Second).Add(1100 * time.Millisecond).Sub(now))
	for i := 0; i < 5; i++ {
		res := mustAllow(t, s, key, lim)
		if res.Allowed {
			t.Fatalf("request %d after the second boundary admitted: the window is not sliding", i+1)
		}
		within(t, "RetryAfter", res.RetryAfter(), 600*time.Millisecond, 150*time.Millisecond)
	}
}

func retryAfterTracksOldest(t *testing.T, s limiter.Store) {
	key := UniqueKey(t)
	lim := limiter.Limit{Rule: "r", Max: 3, Window: 2 * time.Second}
	mustAllow(t, s, key, lim)
	time.Sleep(500 * time.Millisecond)
	mustAllow(t, s, key, lim)
	first := mustAllow(t, s, key, lim)
	within(t, "Reset after 3 admissions", first.Rules[0].Reset, 1500*time.Millisecond, 150*time.Millisecond)
	res := mustAllow(t, s, key, lim)
	if res.Allowed {
		t.Fatal("4th request admitted")
	}
	wait := res.RetryAfter()
	within(t, "RetryAfter", wait, 1500*time.Millisecond, 150*time.Millisecond)
	time.Sleep(wait + 30*time.Millisecond)
	if !mustAllow(t, s, key, lim).Allowed {
		t.Fatal("refused after waiting RetryAfter")
	}
	res = mustAllow(t, s, key, lim)
	if res.Allowed {
		t.Fatal("admitted twice after one slot freed")
	}
	within(t, "second RetryAfter", res.RetryAfter(), 500*time.Millisecond, 150*time.Millisecond)
}

// saturatingClient offers load without pause for 2.5 windows: slots free
// exactly one window after they were taken, so it gets 3N.
func saturatingClient(t *testing.T, s limiter.Store) {
	key := UniqueKey(t)
	lim := limiter.Limit{Rule: "r", Max: 5, Window: time.Second}
	admitted := 0
	end := time.Now().Add(2500 * time.Millisecond)
	for time.Now().Before(end) {
		if mustAllow(t, s, key, lim).Allowed {
			admitted++
		}
		time.Sleep(time.Millisecond)
	}
	if admitted != 15 {
		t.Errorf("saturating client admitted %d in 2.5 windows of N=5, want 15", admitted)
	}
}

// Exactness races goroutines over instances store instances on one subject
// and checks that exactly Max are admitted, for rounds fresh subjects.
func Exactness(t *testing.T, newStore NewStore, instances, rounds int) {
	stores := make([]limiter.Store, instances)
	for i := range stores {
		stores[i] = newStore(t)
	}
	const workers, perWorker = 24, 15
	tier := limiter.Limit{Rule: "tier", Max: 80, Window: time.Minute}
	endpoint := limiter.Limit{Rule: "endpoint", Max: 50, Window: time.Minute}
	for round := 0; round < rounds; round++ {
		key := UniqueKey(t)
		var admitted, refused atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(s limiter.Store) {
				defer wg.Done()
				for i := 0; i < perWorker; i++ {
					res, err := s.Allow(context.Background(), key, []limiter.Limit{tier, endpoint})
					if err != nil {
						t.Errorf("Allow: %v", err)
						return
					}
					if res.Allowed {
						admitted.Add(1)
					} else {
						refused.Add(1)
					}
				}
			}(stores[w%instances])
		}
		wg.Wait()
		if admitted.Load() != 50 || refused.Load() != workers*perWorker-50 {
			t.Fatalf("round %d: admitted %d refused %d of %d, want exactly 50 admitted", round, admitted.Load(), refused.Load(), workers*perWorker)
		}
		res := mustAllow(t, stores[0], key, tier)
		if res.Rules[0].Remaining != 80-50-1 {
			t.Errorf("round %d: tier rule remaining %d, want %d (only admitted requests count)", round, res.Rules[0].Remaining, 80-50-1)
		}
	}
}
