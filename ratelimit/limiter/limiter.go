// Package limiter is the decision core of the rate-limit gateway. One call,
// Limiter.Allow, decides a request against every rule that applies to it and
// returns one Result. Stores (Redis, Upstash, memory) sit behind the Store
// interface; the HTTP transport, rules and identity live in other packages.
package limiter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
)

// Policy says what a rule does when the shared store cannot be reached.
type Policy string

const (
	// PolicyDeny refuses the request (fail closed), e.g. for sign-in.
	PolicyDeny Policy = "deny"
	// PolicyLocal enforces the rule in a per-replica in-memory limiter.
	PolicyLocal Policy = "local"
	// PolicyAllow admits the request without enforcing the rule (fail open).
	PolicyAllow Policy = "allow"
)

// Valid reports whether p is one of the known policies.
func (p Policy) Valid() bool {
	return p == PolicyDeny || p == PolicyLocal || p == PolicyAllow
}

// Limit is one rule: at most Max requests in any window of length Window.
type Limit struct {
	Rule         string // rule name; part of the store key and of metric labels
	Max          int
	Window       time.Duration
	OnStoreError Policy
}

// Key names whose requests are counted: a tier and a subject such as
// "user:<id>" or "ip:203.0.113.7".
type Key struct {
	Tier    string
	Subject string
}

// KeyPrefix starts every store key, so operators can list them with
// `redis-cli --scan --pattern '@ratelimit:*'`.
const KeyPrefix = "@ratelimit:"

// maxSubjectLen bounds key size; longer subjects are replaced by a digest.
const maxSubjectLen = 128

// Tag is the Redis Cluster hash tag shared by every key of one decision, so a
// multi-rule decision touches a single slot.
func (k Key) Tag() string {
	return "{" + escapeKeyPart(k.Tier) + ":" + escapeKeyPart(k.Subject) + "}"
}

// StoreKey is the key of one rule's log for this tier and subject, e.g.
// "@ratelimit:{free:ip:203.0.113.7}:signin".
func (k Key) StoreKey(rule string) string {
	return KeyPrefix + k.Tag() + ":" + escapeKeyPart(rule)
}

// escapeKeyPart percent-encodes bytes that would end the hash tag early or
// make keys hard to read, and replaces oversized parts by a digest.
func escapeKeyPart(s string) string {
	if len(s) > maxSubjectLen {
		sum := sha256.Sum256([]byte(s))
		return "sha256-" + hex.EncodeToString(sum[:16])
	}
	clean := true
	for i := 0; i < len(s); i++ {
		if needsEscape(s[i]) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if needsEscape(c) {
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func needsEscape(c byte) bool {
	return c <= ' ' || c >= 0x7f || c == '{' || c == '}' || c == '%' || c == '*' || c == '?' || c == '[' || c == ']'
}

// RuleState is the outcome of one rule within a decision.
type RuleState struct {
	Limit     Limit
	Remaining int           // requests left in the current window after this decision
	Reset     time.Duration // until the oldest counted request leaves the window
	// RetryAfter is set on a rule that refused: the time until it would admit.
	RetryAfter time.Duration
}

// Result is the outcome of one decision.
type Result struct {
	Allowed bool
	// Rules holds the enforced rules in the order they were given. In degraded
	// mode rules with PolicyAllow are not enforced and left out.
	Rules []RuleState
	// Degraded is true when the shared store was not used for this decision.
	Degraded bool
	// StoreDown is true when the request was refused only because the shared
	// store is unreachable and a rule fails closed.
	StoreDown bool
}

// RetryAfter is when the next request would be admitted: every refusing rule
// must have freed a slot, so it is the largest of their waits.
func (r Result) RetryAfter() time.Duration {
	var longest time.Duration
	for _, s := range r.Rules {
		longest = max(longest, s.RetryAfter)
	}
	return longest
}

// DeniedBy returns the refusing rule with the longest wait, the one that
// binds the client.
func (r Result) DeniedBy() (RuleState, bool) {
	best, found := RuleState{}, false
	for _, s := range r.Rules {
		if s.RetryAfter > 0 && (!found || s.RetryAfter > best.RetryAfter) {
			best, found = s, true
		}
	}
	return best, found
}

// Store decides atomically: it checks every limit for key and records the
// request in all of them only if all admit.
type Store interface {
	Allow(ctx context.Context, key Key, limits []Limit) (Result, error)
	Ping(ctx context.Context) error
}
