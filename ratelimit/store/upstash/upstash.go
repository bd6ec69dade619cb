// Package upstash is the shared store on Upstash Redis through its REST API:
// each command is a JSON array POSTed to the base URL with a bearer token,
// answered by {"result": ...} or {"error": "..."}.
package upstash

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/stackauth-platform/infra/ratelimit/limiter"
	"github.com/stackauth-platform/infra/ratelimit/store/slidinglog"
)

// Store runs the sliding-log script over the Upstash REST API.
type Store struct {
	baseURL string
	token   string
	client  *http.Client
}

// New returns a Store for the REST endpoint baseURL, authenticated by token.
// timeout bounds each HTTP exchange.
func New(baseURL, token string, timeout time.Duration) (*Store, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("not a valid URL; expected https://<name>.upstash.io")
	}
	if token == "" {
		return nil, errors.New("token is empty")
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 64
	return &Store{
		baseURL: strings.TrimRight(baseURL, "/"),
		token:   token,
		client:  &http.Client{Timeout: timeout, Transport: transport},
	}, nil
}

// CommandError is an error reply from Redis, as opposed to a transport failure.
type CommandError struct{ Message string }

func (e *CommandError) Error() string { return "upstash: " + e.Message }

// Allow runs one decision: EVALSHA, and EVAL only after a NOSCRIPT reply.
func (s *Store) Allow(ctx context.Context, key limiter.Key, limits []limiter.Limit) (limiter.Result, error) {
	keys := slidinglog.Keys(key, limits)
	tail := append(append([]string{strconv.Itoa(len(keys))}, keys...), slidinglog.Args(limits)...)
	raw, err := s.Do(ctx, append([]string{"EVALSHA", slidinglog.SHA1}, tail...)...)
	var cmdErr *CommandError
	if errors.As(err, &cmdErr) && strings.Contains(cmdErr.Message, "NOSCRIPT") {
		raw, err = s.Do(ctx, append([]string{"EVAL", slidinglog.Source}, tail...)...)
	}
	if err != nil {
		return limiter.Result{}, err
	}
	var reply []int64
	if err := json.Unmarshal(raw, &reply); err != nil {
		return limiter.Result{}, fmt.Errorf("upstash: unexpected script reply: %w", err)
	}
	return slidinglog.Parse(reply, limits)
}

// Ping sends PING.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.Do(ctx, "PING")
	return err
}

// Do sends one command and returns the raw JSON of its result.
func (s *Store) Do(ctx context.Context, args ...string) (json.RawMessage, error) {
	body, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.baseURL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("upstash: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("upstash: reading reply: %w", err)
	}
	var reply struct {
		Result json.RawMessage `json:"result"`
		Error  *string         `json:"error"`
	}
	if err := json.Unmarshal(data, &reply); err != nil {
		return nil, fmt.Errorf("upstash: HTTP %d with a body that is not a REST reply", resp.StatusCode)
	}
	if reply.Error != nil {
		if resp.StatusCode == http.StatusUnauthorized {
			return nil, fmt.Errorf("upstash: token refused (HTTP 401): %s", *reply.Error)
		}
		return nil, &CommandError{Message: *reply.Error}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("upstash: HTTP %d", resp.StatusCode)
	}
	return reply.Result, nil
}
