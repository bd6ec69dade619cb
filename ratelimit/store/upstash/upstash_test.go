package upstash

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stackauth-platform/infra/ratelimit/internal/redistest"
	"github.com/stackauth-platform/infra/ratelimit/limiter"
	"github.com/stackauth-platform/infra/ratelimit/store/storetest"
)

const testToken = "test-token-AX9f"

// restEndpoint serves the Upstash REST wire format: POST / with a JSON array
// command and a bearer token, answered by {"result": ...} or, with status
// 400 (401 for a bad token), {"error": "..."}. It runs each command on a real
// redis-server it starts, and returns a client of that server too.
func restEndpoint(t *testing.T) (*redis.Client, *httptest.Server) {
	backend := redistest.New(t, redistest.Options{}).Client()
	t.Cleanup(func() { backend.Close() })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]string{"error": "Unauthorized"})
			return
		}
		if r.Method != http.MethodPost || r.URL.Path != "/" {
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(map[string]string{"error": "not found"})
			return
		}
		var cmd []any
		if err := json.NewDecoder(r.Body).Decode(&cmd); err != nil || len(cmd) == 0 {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": "ERR failed to parse command"})
			return
		}
		result, err := backend.Do(r.Context(), cmd...).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"result": result})
	}))
	t.Cleanup(srv.Close)
	return backend, srv
}

func TestConformanceOverREST(t *testing.T) {
	t.Parallel()
	_, endpoint := restEndpoint(t)
	storetest.Run(t, func(t *testing.T) limiter.Store {
		s, err := New(endpoint.URL, testToken, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestTokenAndNoscript(t *testing.T) {
	t.Parallel()
	backend, endpoint := restEndpoint(t)
	ctx := context.Background()
	limits := []limiter.Limit{{Rule: "r", Max: 10, Window: time.Minute}}

	bad, err := New(endpoint.URL, "wrong-token", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Allow(ctx, storetest.UniqueKey(t), limits); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("decision with a wrong token: %v, want a 401 error", err)
	}

	s, err := New(endpoint.URL, testToken, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("PING: %v", err)
	}
	key := storetest.UniqueKey(t)
	for round := 0; round < 2; round++ {
		if err := backend.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		res, err := s.Allow(ctx, key, limits)
		if err != nil {
			t.Fatalf("decision after SCRIPT FLUSH: %v", err)
		}
		if want := 9 - round; res.Rules[0].Remaining != want {
			t.Errorf("remaining %d, want %d", res.Rules[0].Remaining, want)
		}
	}
	ttl := backend.PTTL(ctx, key.StoreKey("r")).Val()
	if ttl <= 0 || ttl > time.Minute {
		t.Errorf("TTL of the key written over REST = %v", ttl)
	}
}

func TestNewRejectsBadSettings(t *testing.T) {
	if _, err := New("ftp://example", "t", time.Second); err == nil {
		t.Error("ftp URL accepted")
	}
	if _, err := New("https://eu1-example.upstash.io", "", time.Second); err == nil {
		t.Error("empty token accepted")
	}
}
