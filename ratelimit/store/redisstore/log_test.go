package redisstore

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stackauth-platform/infra/ratelimit/internal/logtest"
	"github.com/stackauth-platform/infra/ratelimit/internal/redistest"
	"github.com/stackauth-platform/infra/ratelimit/limiter"
)

// clientRecords keeps the go-redis records about addr.
func clientRecords(t *testing.T, log *logtest.Buffer, addr string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, rec := range log.Records(t) {
		if detail, _ := rec["detail"].(string); rec["msg"] == "redis client" && strings.Contains(detail, addr) {
			out = append(out, rec)
		}
	}
	return out
}

// go-redis' own lines (here: failed dials to a stopped server) reach the
// service's JSON log, each kind at most once per interval with a count of
// the occurrences it stands for. go-redis has one logger per process, so
// this test does not run in parallel.
func TestClientLogIsJSONAndRateLimited(t *testing.T) {
	srv := redistest.New(t, redistest.Options{})
	srv.Stop()
	var buf logtest.Buffer
	const interval = 300 * time.Millisecond
	SetLogger(slog.New(slog.NewJSONHandler(&buf, nil)), interval)
	t.Cleanup(func() { SetLogger(slog.Default(), 0) })
	store := newStore(t, ClientConfig{URL: srv.URL(), Timeout: 100 * time.Millisecond})
	allow := func(n int) {
		for i := 0; i < n; i++ {
			if _, err := store.Allow(context.Background(), limiter.Key{Tier: "free", Subject: "ip:192.0.2.1"},
				[]limiter.Limit{{Rule: "tier", Max: 5, Window: time.Minute}}); err == nil {
				t.Fatal("Allow succeeded against a stopped server")
			}
		}
	}

	allow(4)
	recs := clientRecords(t, &buf, srv.Addr)
	if len(recs) != 1 {
		t.Fatalf("%d records for 4 failed dials within %v, want 1:\n%s", len(recs), interval, buf.String())
	}
	if recs[0]["level"] != "WARN" || !strings.Contains(recs[0]["detail"].(string), "failed to dial") || recs[0]["occurrences_since_last_log"] != 1.0 {
		t.Errorf("record %v", recs[0])
	}

	time.Sleep(interval + 100*time.Millisecond)
	allow(1)
	recs = clientRecords(t, &buf, srv.Addr)
	if len(recs) != 2 || recs[1]["occurrences_since_last_log"] != 4.0 {
		t.Errorf("after the interval: %d records, last %v; want 2, the last standing for 4 (3 folded + 1)", len(recs), recs[len(recs)-1])
	}
}
