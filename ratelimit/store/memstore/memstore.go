// Package memstore is the in-memory sliding-log store: the same algorithm as
// the Redis script, exact for one process. It is the default when no shared
// store is configured and the per-replica fallback when Redis is unreachable.
package memstore

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"github.com/stackauth-platform/infra/ratelimit/limiter"
)

const shardCount = 64

// Store keeps one log of admission times per rule and key.
type Store struct {
	now    func() time.Time
	seed   maphash.Seed
	shards [shardCount]shard
	stop   chan struct{}
	done   chan struct{}
}

type shard struct {
	mu   sync.Mutex
	logs map[string]*admissions
}

// admissions holds admission times in unix microseconds, oldest first.
type admissions struct {
	times  []int64
	window int64
}

// Option configures a Store.
type Option func(*Store)

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// New returns a Store whose background sweep drops expired logs every
// sweepEvery; Close stops it.
func New(sweepEvery time.Duration, opts ...Option) *Store {
	s := &Store{now: time.Now, seed: maphash.MakeSeed(), stop: make(chan struct{}), done: make(chan struct{})}
	for i := range s.shards {
		s.shards[i].logs = make(map[string]*admissions)
	}
	for _, o := range opts {
		o(s)
	}
	go s.sweepLoop(sweepEvery)
	return s
}

// Close stops the background sweep.
func (s *Store) Close() {
	close(s.stop)
	<-s.done
}

// Ping always succeeds: the store is local.
func (s *Store) Ping(context.Context) error { return nil }

// Allow checks every limit and records the request in all of them only if
// all admit. All rules of one key share a shard lock, which makes the
// decision atomic.
func (s *Store) Allow(_ context.Context, key limiter.Key, limits []limiter.Limit) (limiter.Result, error) {
	sh := &s.shards[maphash.String(s.seed, key.Tag())%shardCount]
	sh.mu.Lock()
	defer sh.mu.Unlock()

	now := s.now().UnixMicro()
	logs := make([]*admissions, len(limits))
	for i, lim := range limits {
		name := key.StoreKey(lim.Rule)
		log := sh.logs[name]
		if log == nil {
			log = &admissions{}
			sh.logs[name] = log
		}
		log.window = lim.Window.Microseconds()
		if n := len(log.times); n > 0 && log.times[n-1] > now {
			now = log.times[n-1] // the wall clock stepped back; keep the logs ordered
		}
		logs[i] = log
	}

	states := make([]limiter.RuleState, len(limits))
	allowed := true
	for i, lim := range limits {
		log := logs[i]
		log.trim(now - log.window)
		count := len(log.times)
		st := limiter.RuleState{Limit: lim, Remaining: max(0, lim.Max-count)}
		if count > 0 {
			st.Reset = micros(log.times[0] + log.window - now)
		}
		if count >= lim.Max {
			allowed = false
			// The next admission needs the log down to Max-1 entries.
			st.RetryAfter = micros(log.times[count-lim.Max] + log.window - now)
		}
		states[i] = st
	}
	if allowed {
		for i, log := range logs {
			if len(log.times) == 0 {
				states[i].Reset = limits[i].Window
			}
			log.times = append(log.times, now)
			states[i].Remaining--
		}
	}
	for i, log := range logs {
		if len(log.times) == 0 {
			delete(sh.logs, key.StoreKey(limits[i].Rule))
		}
	}
	return limiter.Result{Allowed: allowed, Rules: states}, nil
}

// trim drops admissions at or before cutoff.
func (a *admissions) trim(cutoff int64) {
	i := 0
	for i < len(a.times) && a.times[i] <= cutoff {
		i++
	}
	if i == len(a.times) {
		a.times = a.times[:0]
		return
	}
	a.times = a.times[i:]
}

func micros(us int64) time.Duration { return time.Duration(us) * time.Microsecond }

func (s *Store) sweepLoop(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.Sweep()
		}
	}
}

// Sweep drops every log whose newest admission has left its window.
func (s *Store) Sweep() {
	now := s.now().UnixMicro()
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for name, log := range sh.logs {
			if n := len(log.times); n == 0 || log.times[n-1] <= now-log.window {
				delete(sh.logs, name)
			}
		}
		sh.mu.Unlock()
	}
}

// Len is the number of live logs, for tests and sizing.
func (s *Store) Len() int {
	n := 0
	for i := range s.shards {
		s.shards[i].mu.Lock()
		n += len(s.shards[i].logs)
		s.shards[i].mu.Unlock()
	}
	return n
}
