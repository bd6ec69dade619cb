// Package slidinglog holds the Lua script shared by the Redis and Upstash
// stores: an exact sliding log per rule, all rules of one request decided in
// one atomic script on Redis' own clock, each key given a TTL.
package slidinglog

import (
	"crypto/rand"
	"crypto/sha1"
	_ "embed"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/stackauth-platform/infra/ratelimit/limiter"
)

// Source is the Lua script.
//
//go:embed sliding_log.lua
var Source string

// SHA1 is the script digest EVALSHA takes.
var SHA1 = func() string {
	sum := sha1.Sum([]byte(Source))
	return hex.EncodeToString(sum[:])
}()

// Keys returns the script's keys for one decision, one per limit.
func Keys(key limiter.Key, limits []limiter.Limit) []string {
	keys := make([]string, len(limits))
	for i, l := range limits {
		keys[i] = key.StoreKey(l.Rule)
	}
	return keys
}

// Args returns the script's arguments: a fresh unique member, then limit
// and window in microseconds per rule.
func Args(limits []limiter.Limit) []string {
	args := make([]string, 0, 1+2*len(limits))
	args = append(args, newMember())
	for _, l := range limits {
		args = append(args, strconv.Itoa(l.Max), strconv.FormatInt(l.Window.Microseconds(), 10))
	}
	return args
}

// Parse turns the script's reply into a Result.
func Parse(reply []int64, limits []limiter.Limit) (limiter.Result, error) {
	if len(reply) != 1+3*len(limits) {
		return limiter.Result{}, fmt.Errorf("sliding-log script: got %d values, want %d", len(reply), 1+3*len(limits))
	}
	res := limiter.Result{Allowed: reply[0] == 1, Rules: make([]limiter.RuleState, len(limits))}
	for i, l := range limits {
		v := reply[1+3*i:]
		res.Rules[i] = limiter.RuleState{
			Limit:      l,
			Remaining:  int(v[0]),
			Reset:      time.Duration(v[1]) * time.Microsecond,
			RetryAfter: time.Duration(v[2]) * time.Microsecond,
		}
	}
	return res, nil
}

// memberPrefix keeps members of different processes apart; the counter keeps
// those of one process apart, so two requests in one microsecond both count.
var (
	memberPrefix  = randomPrefix()
	memberCounter atomic.Uint64
)

func randomPrefix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

func newMember() string {
	return memberPrefix + "-" + strconv.FormatUint(memberCounter.Add(1), 36)
}
