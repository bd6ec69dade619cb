package memstore

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stackauth-platform/infra/ratelimit/limiter"
	"github.com/stackauth-platform/infra/ratelimit/store/storetest"
)

func TestConformance(t *testing.T) {
	shared := New(time.Minute)
	t.Cleanup(shared.Close)
	// One process: every "instance" is the same store.
	storetest.Run(t, func(*testing.T) limiter.Store { return shared })
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestSweepDropsExpiredLogs(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	s := New(time.Hour, WithClock(clock.Now))
	t.Cleanup(s.Close)
	short := limiter.Limit{Rule: "short", Max: 3, Window: time.Minute}
	long := limiter.Limit{Rule: "long", Max: 3, Window: time.Hour}
	for i := 0; i < 3; i++ {
		if _, err := s.Allow(context.Background(), limiter.Key{Tier: "free", Subject: "ip:192.0.2.1"}, []limiter.Limit{short, long}); err != nil {
			t.Fatal(err)
		}
	}
	if s.Len() != 2 {
		t.Fatalf("%d logs, want 2", s.Len())
	}
	clock.Advance(time.Minute)
	s.Sweep()
	if s.Len() != 1 {
		t.Fatalf("after one minute %d logs, want 1 (the hour-long one)", s.Len())
	}
	clock.Advance(time.Hour)
	s.Sweep()
	if s.Len() != 0 {
		t.Fatalf("after the hour %d logs, want 0", s.Len())
	}
}

func TestClockSteppingBackKeepsCounting(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	s := New(time.Hour, WithClock(clock.Now))
	t.Cleanup(s.Close)
	key := limiter.Key{Tier: "free", Subject: "ip:192.0.2.1"}
	lim := []limiter.Limit{{Rule: "r", Max: 2, Window: time.Minute}}
	s.Allow(context.Background(), key, lim)
	clock.Advance(-30 * time.Second)
	s.Allow(context.Background(), key, lim)
	res, _ := s.Allow(context.Background(), key, lim)
	if res.Allowed {
		t.Fatal("third request admitted after the clock stepped back")
	}
}
