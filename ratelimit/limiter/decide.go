package limiter

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/stackauth-platform/infra/ratelimit/internal/logevery"
)

// Observer receives what the limiter does, for metrics.
type Observer interface {
	// StoreCall reports one call to the shared store.
	StoreCall(store string, err error, elapsed time.Duration)
	// Degraded reports a decision on rule taken without the shared store.
	Degraded(rule string, policy Policy)
}

// Options configure a Limiter.
type Options struct {
	Store     Store
	StoreName string // "redis", "upstash" or "memory", for metrics and logs
	// Fallback enforces PolicyLocal rules while Store is unreachable. It
	// defaults to Store itself, which suits a Store that cannot fail.
	Fallback Store
	// Timeout bounds one call to Store.
	Timeout time.Duration
	// ProbeInterval is how long decisions bypass Store after a failure
	// before one request tries it again.
	ProbeInterval time.Duration
	Observer      Observer
	Log           *slog.Logger
}

// Limiter decides requests on a shared store and applies each rule's policy
// when that store fails.
type Limiter struct {
	opt      Options
	breaker  breaker
	degraded *logevery.Logger
}

// New returns a Limiter. Store is required.
func New(opt Options) (*Limiter, error) {
	if opt.Store == nil {
		return nil, errors.New("limiter: Options.Store is required")
	}
	if opt.Fallback == nil {
		opt.Fallback = opt.Store
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 100 * time.Millisecond
	}
	if opt.ProbeInterval <= 0 {
		opt.ProbeInterval = time.Second
	}
	if opt.Observer == nil {
		opt.Observer = nopObserver{}
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	return &Limiter{
		opt:      opt,
		breaker:  breaker{interval: opt.ProbeInterval},
		degraded: logevery.New(opt.Log, 10*time.Second),
	}, nil
}

// Allow decides one request against limits for key. It never fails: when the
// shared store is unreachable each rule's OnStoreError policy decides.
func (l *Limiter) Allow(ctx context.Context, key Key, limits []Limit) Result {
	if l.breaker.tryStore(time.Now()) {
		callCtx, cancel := context.WithTimeout(ctx, l.opt.Timeout)
		start := time.Now()
		res, err := l.opt.Store.Allow(callCtx, key, limits)
		cancel()
		l.opt.Observer.StoreCall(l.opt.StoreName, err, time.Since(start))
		if err == nil {
			l.breaker.succeeded()
			return res
		}
		if ctx.Err() != nil {
			// The client went away; that says nothing about the store.
			return Result{Allowed: false, StoreDown: true}
		}
		l.breaker.failed(time.Now())
		l.degraded.Warn("rate-limit store unreachable, deciding by per-rule policy",
			"store", l.opt.StoreName, "error", err.Error())
	}
	return l.decideDegraded(ctx, key, limits)
}

// Ping checks the shared store within the store timeout.
func (l *Limiter) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, l.opt.Timeout)
	defer cancel()
	return l.opt.Store.Ping(ctx)
}

func (l *Limiter) decideDegraded(ctx context.Context, key Key, limits []Limit) Result {
	for _, lim := range limits {
		l.opt.Observer.Degraded(lim.Rule, lim.OnStoreError)
	}
	var local []Limit
	var refused []RuleState
	for _, lim := range limits {
		switch lim.OnStoreError {
		case PolicyDeny:
			refused = append(refused, RuleState{Limit: lim, RetryAfter: l.opt.ProbeInterval})
		case PolicyLocal:
			local = append(local, lim)
		}
	}
	if len(refused) > 0 {
		return Result{Allowed: false, Rules: refused, Degraded: true, StoreDown: true}
	}
	if len(local) == 0 {
		return Result{Allowed: true, Degraded: true}
	}
	res, err := l.opt.Fallback.Allow(ctx, key, local)
	if err != nil {
		// Only reachable with a fallible Fallback; fail open rather than
		// turning a store outage into an outage of the whole API.
		l.degraded.Warn("fallback limiter failed, admitting", "error", err.Error())
		return Result{Allowed: true, Degraded: true}
	}
	res.Degraded = true
	return res
}

// breaker sends decisions past the store for interval after a failure, then
// lets exactly one request probe it while the others keep falling back.
type breaker struct {
	interval  time.Duration
	openUntil atomic.Int64 // unix nanoseconds; 0 while the store is healthy
}

func (b *breaker) tryStore(now time.Time) bool {
	until := b.openUntil.Load()
	if until == 0 {
		return true
	}
	if now.UnixNano() < until {
		return false
	}
	return b.openUntil.CompareAndSwap(until, now.Add(b.interval).UnixNano())
}

func (b *breaker) succeeded() { b.openUntil.Store(0) }

func (b *breaker) failed(now time.Time) { b.openUntil.Store(now.Add(b.interval).UnixNano()) }

type nopObserver struct{}

func (nopObserver) StoreCall(string, error, time.Duration) {}
func (nopObserver) Degraded(string, Policy)                {}
