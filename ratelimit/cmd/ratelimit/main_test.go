package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stackauth-platform/infra/ratelimit/internal/redistest"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

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
	env := map[string]string{
		"UPSTREAM_URL": up.URL, "REDIS_URL": srv.URL(),
		"LISTEN_ADDR": "127.0.0.1:0", "ADMIN_ADDR": "127.0.0.1:0",
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	addrs := make(chan [2]net.Addr, 1)
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, nil, func(k string) string { return env[k] }, io.Discard, &logs, func(p, a net.Addr) { addrs <- [2]net.Addr{p, a} })
	}()
	var public, admin string
	select {
	case a := <-addrs:
		public, admin = "http://"+a[0].String(), "http://"+a[1].String()
	case code := <-done:
		t.Fatalf("run exited with %d: %s", code, logs.String())
	case <-time.After(10 * time.Second):
		t.Fatal("run did not start")
	}

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
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code %d after SIGTERM-equivalent", code)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("run did not return after cancellation")
	}
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
