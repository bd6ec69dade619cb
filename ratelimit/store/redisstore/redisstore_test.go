package redisstore

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stackauth-platform/infra/ratelimit/internal/redistest"
	"github.com/stackauth-platform/infra/ratelimit/limiter"
	"github.com/stackauth-platform/infra/ratelimit/store/storetest"
)

func newStore(t *testing.T, cfg ClientConfig) *Store {
	t.Helper()
	client, err := NewClient(cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	s := New(client)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformanceSingleNode(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t, redistest.Options{})
	storetest.Run(t, func(t *testing.T) limiter.Store {
		return newStore(t, ClientConfig{URL: srv.URL(), Timeout: time.Second})
	})
}

func TestConformanceCluster(t *testing.T) {
	t.Parallel()
	cluster := redistest.NewCluster(t, 3)
	url := "redis+cluster://" + cluster.Nodes[0].Addr
	storetest.Run(t, func(t *testing.T) limiter.Store { return newStore(t, ClientConfig{URL: url, Timeout: time.Second}) })

	// Keys of one decision share a slot; different subjects spread over the masters.
	admin := cluster.Client()
	defer admin.Close()
	ctx := context.Background()
	store := newStore(t, ClientConfig{URL: url, Timeout: time.Second})
	limits := []limiter.Limit{{Rule: "tier", Max: 10, Window: time.Minute}, {Rule: "signin", Max: 5, Window: time.Minute}}
	mastersUsed := map[string]bool{}
	for i := 0; i < 30; i++ {
		key := limiter.Key{Tier: "free", Subject: "ip:192.0.2." + strconv.Itoa(i)}
		if _, err := store.Allow(ctx, key, limits); err != nil {
			t.Fatalf("Allow on cluster: %v", err)
		}
		slotA := admin.ClusterKeySlot(ctx, key.StoreKey("tier")).Val()
		slotB := admin.ClusterKeySlot(ctx, key.StoreKey("signin")).Val()
		if slotA != slotB {
			t.Fatalf("keys of one decision in slots %d and %d", slotA, slotB)
		}
		node, err := admin.MasterForKey(ctx, key.StoreKey("tier"))
		if err != nil {
			t.Fatal(err)
		}
		mastersUsed[node.Options().Addr] = true
	}
	if len(mastersUsed) < 2 {
		t.Errorf("30 subjects landed on %d master(s); hash tags should spread subjects", len(mastersUsed))
	}
}

func TestTLSWithAuth(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t, redistest.Options{TLS: true, Password: "s3cret-for-tests-only"})
	if !strings.HasPrefix(srv.URL(), "rediss://") {
		t.Fatalf("test server URL %q is not rediss://", srv.URL())
	}
	store := newStore(t, ClientConfig{URL: srv.URL(), CAFile: srv.TLS.CAFile, Timeout: time.Second})
	key := storetest.UniqueKey(t)
	res, err := store.Allow(context.Background(), key, []limiter.Limit{{Rule: "r", Max: 1, Window: time.Minute}})
	if err != nil || !res.Allowed {
		t.Fatalf("decision over TLS+AUTH: %+v, %v", res, err)
	}

	wrongPassword := newStore(t, ClientConfig{URL: "rediss://:wrong@" + srv.Addr, CAFile: srv.TLS.CAFile, Timeout: time.Second})
	if err := wrongPassword.Ping(context.Background()); err == nil {
		t.Error("PING with a wrong password succeeded")
	}
	noCA := newStore(t, ClientConfig{URL: srv.URL(), Timeout: time.Second})
	if err := noCA.Ping(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("PING trusting only system roots: %v, want a certificate error", err)
	}
	plain := newStore(t, ClientConfig{URL: "redis://:s3cret-for-tests-only@" + srv.Addr, Timeout: time.Second})
	if err := plain.Ping(context.Background()); err == nil {
		t.Error("plain-text PING to a TLS-only port succeeded")
	}
}

// keysAndTTLs lists every @ratelimit:* key with its TTL.
func keysAndTTLs(t *testing.T, c *redis.Client) map[string]time.Duration {
	t.Helper()
	ctx := context.Background()
	out := map[string]time.Duration{}
	iter := c.Scan(ctx, 0, limiter.KeyPrefix+"*", 100).Iterator()
	for iter.Next(ctx) {
		out[iter.Val()] = c.PTTL(ctx, iter.Val()).Val()
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// serverWithAdmin starts a server and returns it with a store and a
// direct client for inspecting it.
func serverWithAdmin(t *testing.T) (*redistest.Server, *redis.Client, *Store) {
	srv := redistest.New(t, redistest.Options{})
	admin := srv.Client()
	t.Cleanup(func() { admin.Close() })
	return srv, admin, newStore(t, ClientConfig{URL: srv.URL()})
}

func TestEveryKeyHasTTLAndLostTTLHeals(t *testing.T) {
	t.Parallel()
	_, admin, store := serverWithAdmin(t)
	ctx := context.Background()
	key := limiter.Key{Tier: "free", Subject: "ip:198.51.100.7"}
	limits := []limiter.Limit{{Rule: "tier", Max: 3, Window: time.Hour}, {Rule: "signin", Max: 2, Window: 15 * time.Minute}}
	for i := 0; i < 4; i++ {
		if _, err := store.Allow(ctx, key, limits); err != nil {
			t.Fatal(err)
		}
	}
	got := keysAndTTLs(t, admin)
	want := map[string]time.Duration{
		"@ratelimit:{free:ip:198.51.100.7}:tier":   time.Hour,
		"@ratelimit:{free:ip:198.51.100.7}:signin": 15 * time.Minute,
	}
	if len(got) != len(want) {
		t.Fatalf("keys %v, want %v", got, want)
	}
	for k, ttl := range want {
		if got[k] <= ttl-time.Minute || got[k] > ttl {
			t.Errorf("TTL of %s = %v, want about %v", k, got[k], ttl)
		}
	}

	// A key that lost its TTL (PERSIST, or written by something else) gets
	// one back on the next decision, even one that is refused.
	signin := "@ratelimit:{free:ip:198.51.100.7}:signin"
	admin.Persist(ctx, signin)
	if ttl := admin.PTTL(ctx, signin).Val(); ttl != -1 {
		t.Fatalf("PERSIST left TTL %v", ttl)
	}
	res, err := store.Allow(ctx, key, limits)
	if err != nil || res.Allowed {
		t.Fatalf("expected a refusal, got %+v %v", res, err)
	}
	if ttl := admin.PTTL(ctx, signin).Val(); ttl <= 0 {
		t.Errorf("TTL after a refused decision = %v, want it restored", ttl)
	}
}

func commandCalls(t *testing.T, c *redis.Client) map[string]int {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]int{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok {
			continue
		}
		n, _ := strconv.Atoi(strings.SplitN(rest, ",", 2)[0])
		calls[strings.TrimPrefix(name, "cmdstat_")] = n
	}
	return calls
}

func TestOneRoundTripAndNoscriptRecovery(t *testing.T) {
	t.Parallel()
	_, admin, store := serverWithAdmin(t)
	ctx := context.Background()
	key := storetest.UniqueKey(t)
	limits := []limiter.Limit{{Rule: "a", Max: 100, Window: time.Minute}, {Rule: "b", Max: 100, Window: time.Minute}}
	if _, err := store.Allow(ctx, key, limits); err != nil { // loads the script
		t.Fatal(err)
	}

	before := commandCalls(t, admin)
	const decisions = 50
	for i := 0; i < decisions; i++ {
		if _, err := store.Allow(ctx, key, limits); err != nil {
			t.Fatal(err)
		}
	}
	after := commandCalls(t, admin)
	// Commands a client sent (INFO is ours); script-internal calls are
	// counted under their own names, so count only top-level script calls.
	if got := after["evalsha"] - before["evalsha"]; got != decisions {
		t.Errorf("%d EVALSHA for %d decisions, want one each", got, decisions)
	}
	if got := after["eval"] - before["eval"]; got != 0 {
		t.Errorf("%d EVAL with the script cached, want 0", got)
	}

	if err := admin.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	res, err := store.Allow(ctx, key, limits)
	if err != nil {
		t.Fatalf("decision after SCRIPT FLUSH: %v", err)
	}
	if res.Rules[0].Remaining != 100-decisions-2 {
		t.Errorf("remaining %d after flush, want %d", res.Rules[0].Remaining, 100-decisions-2)
	}
	final := commandCalls(t, admin)
	if got := final["eval"] - after["eval"]; got != 1 {
		t.Errorf("%d EVAL after SCRIPT FLUSH, want 1 (the NOSCRIPT fallback)", got)
	}
}

func TestStoppedAndRestartedRedis(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t, redistest.Options{})
	const timeout = 100 * time.Millisecond
	store := newStore(t, ClientConfig{URL: srv.URL(), Timeout: timeout})
	ctx := context.Background()
	limits := []limiter.Limit{{Rule: "r", Max: 1000, Window: time.Minute}}
	key := storetest.UniqueKey(t)
	if _, err := store.Allow(ctx, key, limits); err != nil {
		t.Fatal(err)
	}

	srv.Stop()
	for i := 0; i < 3; i++ {
		callCtx, cancel := context.WithTimeout(ctx, timeout)
		start := time.Now()
		_, err := store.Allow(callCtx, key, limits)
		cancel()
		if err == nil {
			t.Fatal("decision succeeded with Redis stopped")
		}
		if took := time.Since(start); took > timeout+200*time.Millisecond {
			t.Errorf("failed decision took %v, want about the %v timeout", took, timeout)
		}
	}

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	// The restarted server has no script cached and no data.
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, err := store.Allow(ctx, key, limits)
		if err == nil {
			if !res.Allowed || res.Rules[0].Remaining != 999 {
				t.Errorf("first decision after restart: %+v", res)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store did not recover within 5s of the restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestNewClientRejectsBadURLs(t *testing.T) {
	for _, tc := range []struct{ url, ca, want string }{
		{"http://localhost:6379", "", "unsupported scheme"},
		{"localhost:6379", "", "not a valid URL"},
		{"redis://:hunter2@localhost:notaport", "", "not a valid URL"},
		{"redis://localhost:6379", "/etc/ca.pem", "not rediss://"},
		{"rediss://localhost:6379", "/nonexistent/ca.pem", "cannot read CA file"},
		{"redis://localhost:6379?bogus=1", "", "bogus"},
	} {
		_, err := NewClient(ClientConfig{URL: tc.url, CAFile: tc.ca})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewClient(%q): %v, want error containing %q", tc.url, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error for %q leaks the password: %v", tc.url, err)
		}
	}
	for _, ok := range []string{"redis://localhost:6379/2", "rediss://user:pw@cache.example:6380", "redis+cluster://10.0.0.1:6379", "rediss+cluster://cfg.example:6379"} {
		c, err := NewClient(ClientConfig{URL: ok})
		if err != nil {
			t.Errorf("NewClient(%q): %v", ok, err)
			continue
		}
		_, isCluster := c.(*redis.ClusterClient)
		if want := strings.Contains(ok, "+cluster"); isCluster != want {
			t.Errorf("NewClient(%q): cluster client %v, want %v", ok, isCluster, want)
		}
		c.Close()
	}
}
