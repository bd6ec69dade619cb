// Package logevery logs a recurring condition at most once per interval and
// reports how many occurrences were folded into that line.
package logevery

import (
	"log/slog"
	"sync"
	"time"
)

// Logger emits at most one record per interval for one condition.
type Logger struct {
	log      *slog.Logger
	interval time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// New returns a Logger writing to log at most once per interval.
func New(log *slog.Logger, interval time.Duration) *Logger {
	return &Logger{log: log, interval: interval}
}

// Warn logs msg unless a record was written less than interval ago; the next
// record carries the count of the occurrences it stood for.
func (l *Logger) Warn(msg string, attrs ...any) {
	l.mu.Lock()
	now := time.Now()
	if !l.last.IsZero() && now.Sub(l.last) < l.interval {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	folded := l.suppressed
	l.last, l.suppressed = now, 0
	l.mu.Unlock()
	l.log.Warn(msg, append(attrs, "occurrences_since_last_log", folded+1)...)
}
