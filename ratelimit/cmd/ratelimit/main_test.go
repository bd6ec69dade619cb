package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stackauth-platform/infra/ratelimit/internal/logtest"
	"github.com/stackauth-platform/infra/ratelimit/internal/redistest"
)

// running is one run() in the background.
type running struct {
	public, admin string // http://host:port
	logs          *logtest.Buffer
	cancel        context.CancelFunc
	done          chan int
}

// startRun starts run with env and waits until it listens.
func startRun(t *testing.T, env map[string]string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r := &running{logs: &logtest.Buffer{}, cancel: cancel, done: make(chan int, 1)}
	addrs := make(chan [2]net.Addr, 1)
	go func() {
		r.done <- run(ctx, nil, func(k string) string { return env[k] }, io.Discard, r.logs, func(p, a net.Addr) { addrs <- [2]net.Addr{p, a} })
	}()
	select {
	case a := <-addrs:
		r.public, r.admin = "http://"+a[0].String(), "http://"+a[1].String()
	case code := <-r.done:
		t.Fatalf("run exited with %d: %s", code, r.logs.String())
	case <-time.After(10 * time.Second):
		t.Fatal("run did not start")
	}
	return r
}

// stop cancels the run as SIGTERM does and returns its exit code.
func (r *running) stop(t *testing.T) int {
	t.Helper()
	r.cancel()
	select {
	case code := <-r.done:
		return code
	case <-time.After(25 * time.Second):
		t.Fatal("run did not return after cancellation")
		return -1
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRunServesAndDrains(t *testing.T) {
	srv := redistest.New(t, redistest.Options{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "upstream") }))
	defer up.Close()
	r := startRun(t, map[string]string{
		"UPSTREAM_URL": up.URL, "REDIS_URL": srv.URL(),
		"LISTEN_ADDR": "127.0.0.1:0", "ADMIN_ADDR": "127.0.0.1:0",
	})
	public, admin := r.public, r.admin

	if code, body := get(t, public+"/api/v1/users/me"); code != 200 || body != "upstream" {
		t.Errorf("proxied request: %d %q", code, body)
	}
	// The public port proxies /metrics like any other path.
	if _, body := get(t, public+"/metrics"); strings.Contains(body, "build_info") {
		t.Error("/metrics is served on the public port")
	}
	if code, _ := get(t, admin+"/health"); code != 200 {
		t.Errorf("/health: %d", code)
	}
	if code, body := get(t, admin+"/ready"); code != 200 {
		t.Errorf("/ready: %d %s", code, body)
	}
	_, metrics := get(t, admin+"/metrics")
	for _, want := range []string{`build_info{goversion="go`, `version="dev"} 1`, `http_requests_total{code="200",method="GET",route="/api/v1/users/me"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code := r.stop(t); code != 0 {
		t.Errorf("exit code %d after SIGTERM-equivalent", code)
	}
	logs := r.logs
	for _, want := range []string{`"msg":"ratelimit starting","version":"dev"`, `"msg":"store: redis"`, `"msg":"stopped"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	}
	if strings.Contains(logs.String(), srv.Addr) && srv.Password != "" && strings.Contains(logs.String(), srv.Password) {
		t.Error("log contains the Redis password")
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	var stderr bytes.Buffer
	code := run(context.Background(), nil, func(k string) string {
		return map[string]string{"UPSTREAM_URL": "http://up:1", "REDIS_URL": "redis://:pw@host:badport", "MAX_CONCURRENT_REQUESTS": "-3"}[k]
	}, io.Discard, &stderr, nil)
	if code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
	for _, want := range []string{"invalid configuration", "REDIS_URL:", "MAX_CONCURRENT_REQUESTS:"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q: %s", want, stderr.String())
		}
	}
}

func TestVersionFlag(t *testing.T) {
	var stdout bytes.Buffer
	if code := run(context.Background(), []string{"-version"}, func(string) string { return "" }, &stdout, io.Discard, nil); code != 0 || stdout.String() != "dev\n" {
		t.Errorf("-version: code %d output %q", code, stdout.String())
	}
}

// Everything the service writes on stderr is JSON, also the lines of its
// libraries: go-redis failing to dial a stopped Redis, and net/http's proxy
// when the upstream dies in the middle of a response body.
func TestRunLogsOnlyJSON(t *testing.T) {
	srv := redistest.New(t, redistest.Options{})
	srv.Stop()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(200)
		io.WriteString(w, "truncated")
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer up.Close()
	r := startRun(t, map[string]string{
		"UPSTREAM_URL": up.URL, "REDIS_URL": srv.URL(),
		"LISTEN_ADDR": "127.0.0.1:0", "ADMIN_ADDR": "127.0.0.1:0",
	})
	if resp, err := http.Get(r.public + "/api/v1/users/me"); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	wants := []string{`"msg":"redis client"`, "failed to dial", "ReverseProxy read error during body copy"}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && !containsAll(r.logs.String(), wants) {
		time.Sleep(20 * time.Millisecond)
	}
	r.stop(t)
	if !containsAll(r.logs.String(), wants) {
		t.Errorf("log lacks one of %q:\n%s", wants, r.logs.String())
	}
	r.logs.Records(t) // fails on any line that is not JSON
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
