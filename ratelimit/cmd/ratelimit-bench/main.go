// Command ratelimit-bench measures the rate limiter on a real local
// redis-server it starts itself: decisions per second, p50/p99 latency and
// Redis round trips per decision, for the store alone and through the HTTP
// proxy. All traffic stays on loopback and every case is bounded in time.
//
//	go run ./ratelimit/cmd/ratelimit-bench -duration 5s -workers 16
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stackauth-platform/infra/ratelimit/httpgw"
	"github.com/stackauth-platform/infra/ratelimit/identity"
	"github.com/stackauth-platform/infra/ratelimit/internal/redistest"
	"github.com/stackauth-platform/infra/ratelimit/limiter"
	"github.com/stackauth-platform/infra/ratelimit/metrics"
	"github.com/stackauth-platform/infra/ratelimit/rules"
	"github.com/stackauth-platform/infra/ratelimit/store/memstore"
	"github.com/stackauth-platform/infra/ratelimit/store/redisstore"
)

// benchRules admit nearly everything, so every decision takes the write
// path (ZADD and PEXPIRE on both keys) and every request reaches the upstream.
const benchRules = `
default_tier: free
tiers:
  free: {limit: 1000000, window: 1h}
endpoints:
  - {name: signin, limit: 1000000, window: 15m, paths: [/api/v1/auth/password/sign-in]}
`

const subjects = 1000

func main() {
	duration := flag.Duration("duration", 5*time.Second, "length of each case")
	workers := flag.Int("workers", 16, "concurrent callers")
	flag.Parse()
	if err := bench(*duration, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "ratelimit-bench:", err)
		os.Exit(1)
	}
}

// roundTrips counts commands and pipelines the client sends.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { r.n.Add(1); return next(ctx, cmd) }
}
func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { r.n.Add(1); return next(ctx, cmds) }
}

type result struct {
	name       string
	ops        int
	elapsed    time.Duration
	latencies  []time.Duration
	roundTrips float64 // per op; negative when not applicable
	failures   int
}

func bench(duration time.Duration, workers int) error {
	srv, err := redistest.Start(redistest.Options{})
	if err != nil {
		return err
	}
	defer srv.Close()
	ruleSet, err := rules.Parse([]byte(benchRules))
	if err != nil {
		return err
	}
	serverVersion := redisVersion(srv)

	client, err := redisstore.NewClient(redisstore.ClientConfig{URL: srv.URL(), Timeout: time.Second})
	if err != nil {
		return err
	}
	counter := &roundTrips{}
	client.AddHook(counter)
	redisStore := redisstore.New(client)
	defer redisStore.Close()
	mem := memstore.New(time.Minute)
	defer mem.Close()

	tierLimit, _ := ruleSet.Tier("free")
	signinLimit := ruleSet.Match("POST", "/api/v1/auth/password/sign-in").Endpoints[0]
	limits := []limiter.Limit{tierLimit, signinLimit}

	var results []result
	for _, c := range []struct {
		name  string
		store limiter.Store
	}{{"store: redis, 2 rules", redisStore}, {"store: memory, 2 rules", mem}} {
		before := counter.n.Load()
		r := run(duration, workers, func(i int) error {
			_, err := c.store.Allow(context.Background(), limiter.Key{Tier: "free", Subject: "ip:bench-" + strconv.Itoa(i%subjects)}, limits)
			return err
		})
		r.name, r.roundTrips = c.name, -1
		if c.store == limiter.Store(redisStore) {
			r.roundTrips = float64(counter.n.Load()-before) / float64(r.ops)
		}
		results = append(results, r)
	}

	proxied, err := benchProxy(duration, workers, ruleSet, redisStore, counter)
	if err != nil {
		return err
	}
	results = append(results, proxied)

	fmt.Printf("ratelimit benchmark: redis-server %s on loopback, %d workers, %v per case, GOMAXPROCS=%d, %s\n",
		serverVersion, workers, duration, runtime.GOMAXPROCS(0), runtime.Version())
	fmt.Printf("%-34s %12s %10s %10s %22s\n", "case", "decisions/s", "p50", "p99", "redis round trips/dec.")
	for _, r := range results {
		slices.Sort(r.latencies)
		rt := "-"
		if r.roundTrips >= 0 {
			rt = strconv.FormatFloat(r.roundTrips, 'f', 2, 64)
		}
		fmt.Printf("%-34s %12.0f %10s %10s %22s\n", r.name, float64(r.ops)/r.elapsed.Seconds(),
			percentile(r.latencies, 0.50), percentile(r.latencies, 0.99), rt)
		if r.failures > 0 {
			fmt.Printf("  %d failed operations in %s\n", r.failures, r.name)
		}
	}
	return nil
}

func benchProxy(duration time.Duration, workers int, ruleSet *rules.Set, store limiter.Store, counter *roundTrips) (result, error) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"ok":true}`)
	}))
	defer upstream.Close()
	upURL, _ := url.Parse(upstream.URL)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	lim, err := limiter.New(limiter.Options{Store: store, StoreName: "redis", Fallback: memstore.New(time.Minute), Timeout: time.Second, Log: quiet})
	if err != nil {
		return result{}, err
	}
	trusted, _ := identity.ParsePrefixes("127.0.0.0/8")
	gw, err := httpgw.New(httpgw.Config{
		Upstream: upURL, Rules: ruleSet, Metrics: metrics.New("bench"), Limiter: lim, Log: quiet,
		Identity: identity.NewResolver(identity.Config{TrustedProxies: trusted, DefaultTier: ruleSet.DefaultTier}),
	})
	if err != nil {
		return result{}, err
	}
	front := httptest.NewServer(gw)
	defer front.Close()
	httpClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}, Timeout: 10 * time.Second}
	before := counter.n.Load()
	r := run(duration, workers, func(i int) error {
		req, _ := http.NewRequest("POST", front.URL+"/api/v1/auth/password/sign-in", strings.NewReader("{}"))
		req.Header.Set("X-Forwarded-For", "198.51."+strconv.Itoa(i%subjects/250)+"."+strconv.Itoa(i%250))
		resp, err := httpClient.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	r.name = "http proxy: redis, 2 rules"
	r.roundTrips = float64(counter.n.Load()-before) / float64(r.ops)
	return r, nil
}

// run calls op from workers goroutines for duration and times each call.
func run(duration time.Duration, workers int, op func(i int) error) result {
	var mu sync.Mutex
	var all []time.Duration
	var seq atomic.Int64
	failures := 0
	start := time.Now()
	deadline := start.Add(duration)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var own []time.Duration
			failed := 0
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if err := op(int(seq.Add(1))); err != nil {
					failed++
				}
				own = append(own, time.Since(t0))
			}
			mu.Lock()
			all = append(all, own...)
			failures += failed
			mu.Unlock()
		}()
	}
	wg.Wait()
	return result{ops: len(all), elapsed: time.Since(start), latencies: all, failures: failures}
}

func percentile(sorted []time.Duration, p float64) string {
	if len(sorted) == 0 {
		return "-"
	}
	d := sorted[int(float64(len(sorted)-1)*p)]
	return d.Round(time.Microsecond).String()
}

func redisVersion(srv *redistest.Server) string {
	c := srv.Client()
	defer c.Close()
	info, err := c.Info(context.Background(), "server").Result()
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			return v
		}
	}
	return "?"
}
