// Package redisstore is the shared store on Redis (single node, TLS, or
// Cluster): one EVALSHA per decision, falling back to EVAL on NOSCRIPT.
package redisstore

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/stackauth-platform/infra/ratelimit/limiter"
	"github.com/stackauth-platform/infra/ratelimit/store/slidinglog"
)

// Store runs the sliding-log script on a Redis client.
type Store struct {
	client redis.UniversalClient
	script *redis.Script
}

// New returns a Store on client (a *redis.Client or *redis.ClusterClient).
func New(client redis.UniversalClient) *Store {
	return &Store{client: client, script: redis.NewScript(slidinglog.Source)}
}

// Allow runs one decision. Script.Run sends EVALSHA and only after a NOSCRIPT
// reply (restart, failover, SCRIPT FLUSH) sends the source with EVAL.
func (s *Store) Allow(ctx context.Context, key limiter.Key, limits []limiter.Limit) (limiter.Result, error) {
	args := slidinglog.Args(limits)
	argv := make([]any, len(args))
	for i, a := range args {
		argv[i] = a
	}
	reply, err := s.script.Run(ctx, s.client, slidinglog.Keys(key, limits), argv...).Int64Slice()
	if err != nil {
		return limiter.Result{}, fmt.Errorf("redis: %w", err)
	}
	return slidinglog.Parse(reply, limits)
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.client.Ping(ctx).Err()
}

// Close closes the client.
func (s *Store) Close() error { return s.client.Close() }
