package redisstore

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stackauth-platform/infra/ratelimit/internal/logevery"
)

// SetLogger sends go-redis' own log lines (failed dials, pool trouble) to
// log as warnings instead of its plain-text stderr lines. A Redis outage
// repeats them on every dial, so each kind (format) is logged at most once
// per interval, with the number of occurrences it stands for. go-redis has
// one logger per process: the last call wins.
func SetLogger(log *slog.Logger, interval time.Duration) {
	redis.SetLogger(&clientLog{log: log, interval: interval, kinds: map[string]*logevery.Logger{}})
}

type clientLog struct {
	log      *slog.Logger
	interval time.Duration

	mu    sync.Mutex
	kinds map[string]*logevery.Logger // by format: a fixed set of call sites
}

func (c *clientLog) Printf(_ context.Context, format string, args ...any) {
	c.mu.Lock()
	kind, ok := c.kinds[format]
	if !ok {
		kind = logevery.New(c.log, c.interval)
		c.kinds[format] = kind
	}
	c.mu.Unlock()
	kind.Warn("redis client", "detail", strings.TrimPrefix(fmt.Sprintf(format, args...), "redis: "))
}
