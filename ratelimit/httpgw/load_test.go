package httpgw

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/stackauth-platform/infra/ratelimit/identity"
	"github.com/stackauth-platform/infra/ratelimit/internal/redistest"
)

// TestLoadThreeReplicasCountsExact drives three gateways sharing one Redis
// over loopback, bounded in requests and time, and checks counts only: per
// client, the tier allows exactly 100 and sign-in at most 5.
func TestLoadThreeReplicasCountsExact(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t, redistest.Options{})
	up := newUpstream(t)
	var replicas []*harness
	for i := 0; i < 3; i++ {
		replicas = append(replicas, newHarness(t, up, options{store: redisStore(t, srv), storeName: "redis", trustedProxies: "127.0.0.0/8"}))
	}
	const clients, signIns, reads, workers = 30, 20, 110, 32
	type job struct{ client, n int }
	jobs := make(chan job)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	httpClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}, Timeout: 10 * time.Second}

	var mu sync.Mutex
	admitted := make([]int, clients)
	signInAdmitted := make([]int, clients)
	var other atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				path, method := "/api/v1/users/me", "GET"
				if j.n < signIns {
					path, method = signIn, "POST"
				}
				req, _ := http.NewRequestWithContext(ctx, method, replicas[j.n%3].gateway.URL+path, nil)
				req.Header.Set("X-Forwarded-For", "198.51.100."+strconv.Itoa(j.client))
				resp, err := httpClient.Do(req)
				if err != nil {
					t.Errorf("request: %v", err)
					continue
				}
				resp.Body.Close()
				mu.Lock()
				switch resp.StatusCode {
				case http.StatusOK:
					admitted[j.client]++
					if j.n < signIns {
						signInAdmitted[j.client]++
					}
				case http.StatusTooManyRequests:
				default:
					other.Add(1)
				}
				mu.Unlock()
			}
		}()
	}
	start := time.Now()
	// Interleave clients and request kinds so the replicas race on each key.
	for n := 0; n < signIns+reads; n++ {
		for c := 0; c < clients; c++ {
			select {
			case jobs <- job{client: c, n: n}:
			case <-ctx.Done():
				t.Fatal("load test exceeded its time bound")
			}
		}
	}
	close(jobs)
	wg.Wait()
	total := clients * (signIns + reads)
	t.Logf("%d requests through 3 replicas in %v", total, time.Since(start).Round(time.Millisecond))

	if other.Load() != 0 {
		t.Errorf("%d responses were neither 200 nor 429", other.Load())
	}
	sum := 0
	for c := 0; c < clients; c++ {
		if admitted[c] != 100 {
			t.Errorf("client %d: %d admitted, want exactly the free tier's 100", c, admitted[c])
		}
		if signInAdmitted[c] > 5 || signInAdmitted[c] == 0 {
			t.Errorf("client %d: %d sign-ins admitted, want 1..5", c, signInAdmitted[c])
		}
		sum += admitted[c]
	}
	if up.count() != sum {
		t.Errorf("upstream saw %d requests, gateways admitted %d", up.count(), sum)
	}
}

// TestAccessTokens runs the real JWT verifier behind the gateway: a valid
// token counts against its user, a broken or expired one against the IP
// and never produces an error page.
func TestAccessTokens(t *testing.T) {
	t.Parallel()
	const project = "proj-gw"
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pub, _ := key.PublicKey.Bytes()
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "EC", "crv": "P-256", "kid": "k1",
			"x": base64.RawURLEncoding.EncodeToString(pub[1:33]), "y": base64.RawURLEncoding.EncodeToString(pub[33:]),
		}}})
	}))
	t.Cleanup(jwks.Close)
	verifier, err := identity.NewJWTVerifier(identity.JWTConfig{APIURL: "https://api.example.com", ProjectID: project, JWKSURL: jwks.URL})
	if err != nil {
		t.Fatal(err)
	}
	token := func(sub string, exp time.Time) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
			"iss": verifier.Issuer(), "aud": project, "sub": sub, "exp": exp.Unix(),
		})
		tok.Header["kid"] = "k1"
		s, _ := tok.SignedString(key)
		return s
	}
	h := newHarness(t, newUpstream(t), options{tokens: verifier})
	valid := token("user-a", time.Now().Add(time.Hour))
	expired := token("user-b", time.Now().Add(-time.Hour))

	count := func(headers map[string]string, n int) int {
		ok := 0
		for i := 0; i < n; i++ {
			switch code := h.do(t, "POST", signIn, headers).StatusCode; code {
			case http.StatusOK:
				ok++
			case http.StatusTooManyRequests:
			default:
				t.Fatalf("status %d for headers %v", code, headers)
			}
		}
		return ok
	}
	if got := count(map[string]string{"X-Stack-Access-Token": "garbage"}, 3); got != 3 {
		t.Errorf("broken token: %d admitted of 3", got)
	}
	if got := count(map[string]string{"X-Stack-Access-Token": expired}, 3); got != 2 {
		t.Errorf("expired token counted with the IP: %d admitted, want 2 (5 - 3 used)", got)
	}
	if got := count(map[string]string{"X-Stack-Access-Token": valid}, 7); got != 5 {
		t.Errorf("valid token has its own budget: %d admitted, want 5", got)
	}
}
