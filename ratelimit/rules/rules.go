// Package rules holds the gateway's limits: one per tier and one per
// endpoint, read from YAML (default.yaml unless RULES_FILE names another),
// and matches requests to the endpoint rules and to a route label.
package rules

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/stackauth-platform/infra/ratelimit/limiter"
)

//go:embed default.yaml
var defaultYAML []byte

// TierRule is the rule name under which tier limits are counted.
const TierRule = "tier"

// OtherRoute is the route label of paths no template matches.
const OtherRoute = "other"

const (
	minWindow = time.Second
	maxWindow = 7 * 24 * time.Hour
	maxLimit  = 1_000_000
)

// Set is a validated rule set.
type Set struct {
	DefaultTier string
	tiers       map[string]limiter.Limit
	endpoints   []endpoint
	routes      []pattern // every template: endpoint paths and extra routes
}

type endpoint struct {
	limit    limiter.Limit
	methods  []string // upper case; empty means every method
	patterns []pattern
}

type pattern struct {
	path   string // normalised, without the "/*" of a prefix
	prefix bool
	label  string
}

// Match is what applies to one request.
type Match struct {
	Route     string          // low-cardinality route label
	Endpoints []limiter.Limit // endpoint rules that apply, in file order
}

// file is the YAML layout.
type file struct {
	DefaultTier string              `json:"default_tier"`
	Tiers       map[string]limitDoc `json:"tiers"`
	Endpoints   []endpointDoc       `json:"endpoints"`
	Routes      []string            `json:"routes"`
}

type limitDoc struct {
	Limit        int            `json:"limit"`
	Window       string         `json:"window"`
	OnStoreError limiter.Policy `json:"on_store_error"`
}

type endpointDoc struct {
	Name string `json:"name"`
	limitDoc
	Methods []string `json:"methods"`
	Paths   []string `json:"paths"`
}

// Default returns the built-in rules (default.yaml).
func Default() *Set {
	s, err := Parse(defaultYAML)
	if err != nil {
		panic("rules: built-in default.yaml is invalid: " + err.Error())
	}
	return s
}

// DefaultYAML is the text of the built-in rules, a template for RULES_FILE.
func DefaultYAML() []byte { return slices.Clone(defaultYAML) }

// Load reads and validates a rules file.
func Load(filename string) (*Set, error) {
	data, err := os.ReadFile(filename)
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

var knownMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// Parse validates a rules document; errors name the offending field.
func Parse(data []byte) (*Set, error) {
	var doc file
	if err := yaml.UnmarshalStrict(data, &doc); err != nil {
		return nil, fmt.Errorf("not a valid rules document: %w", err)
	}
	s := &Set{tiers: map[string]limiter.Limit{}}
	if len(doc.Tiers) == 0 {
		return nil, errors.New("tiers: at least one tier is required")
	}
	for name, t := range doc.Tiers {
		if !nameRE.MatchString(name) {
			return nil, fmt.Errorf("tiers: name %q must be lower-case letters, digits, '-' or '_' (at most 32)", name)
		}
		lim, err := t.limit(TierRule)
		if err != nil {
			return nil, fmt.Errorf("tiers.%s: %w", name, err)
		}
		s.tiers[name] = lim
	}
	s.DefaultTier = doc.DefaultTier
	if _, ok := s.tiers[s.DefaultTier]; !ok {
		return nil, fmt.Errorf("default_tier: unknown tier %q; defined tiers are %s", doc.DefaultTier, strings.Join(s.TierNames(), ", "))
	}

	seen := map[string]bool{TierRule: true}
	for i, e := range doc.Endpoints {
		where := fmt.Sprintf("endpoints[%d]", i)
		if !nameRE.MatchString(e.Name) {
			return nil, fmt.Errorf("%s.name: %q must be lower-case letters, digits, '-' or '_' (at most 32)", where, e.Name)
		}
		where += " (" + e.Name + ")"
		if seen[e.Name] {
			return nil, fmt.Errorf("%s.name: %q is used twice or is reserved", where, e.Name)
		}
		seen[e.Name] = true
		lim, err := e.limit(e.Name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		ep := endpoint{limit: lim}
		for _, m := range e.Methods {
			m = strings.ToUpper(m)
			if !slices.Contains(knownMethods, m) {
				return nil, fmt.Errorf("%s.methods: unknown method %q", where, m)
			}
			ep.methods = append(ep.methods, m)
		}
		if len(e.Paths) == 0 {
			return nil, fmt.Errorf("%s.paths: at least one path is required", where)
		}
		for _, p := range e.Paths {
			pat, err := compilePattern(p)
			if err != nil {
				return nil, fmt.Errorf("%s.paths: %w", where, err)
			}
			ep.patterns = append(ep.patterns, pat)
			s.routes = append(s.routes, pat)
		}
		s.endpoints = append(s.endpoints, ep)
	}
	for _, p := range doc.Routes {
		pat, err := compilePattern(p)
		if err != nil {
			return nil, fmt.Errorf("routes: %w", err)
		}
		s.routes = append(s.routes, pat)
	}
	return s, nil
}

func (d limitDoc) limit(rule string) (limiter.Limit, error) {
	if d.Limit <= 0 || d.Limit > maxLimit {
		return limiter.Limit{}, fmt.Errorf("limit must be between 1 and %d, got %d", maxLimit, d.Limit)
	}
	w, err := time.ParseDuration(d.Window)
	if err != nil {
		return limiter.Limit{}, fmt.Errorf("window must be a duration such as 15m or 1h, got %q", d.Window)
	}
	if w < minWindow || w > maxWindow {
		return limiter.Limit{}, fmt.Errorf("window must be between %v and %v, got %v", minWindow, maxWindow, w)
	}
	policy := d.OnStoreError
	if policy == "" {
		policy = limiter.PolicyLocal
	}
	if !policy.Valid() {
		return limiter.Limit{}, fmt.Errorf("on_store_error must be deny, local or allow, got %q", policy)
	}
	return limiter.Limit{Rule: rule, Max: d.Limit, Window: w, OnStoreError: policy}, nil
}

func compilePattern(p string) (pattern, error) {
	if !strings.HasPrefix(p, "/") {
		return pattern{}, fmt.Errorf("%q must start with /", p)
	}
	prefix := strings.HasSuffix(p, "/*")
	body := strings.TrimSuffix(p, "/*")
	if strings.Contains(body, "*") {
		return pattern{}, fmt.Errorf("%q: '*' is only allowed as a final /* segment", p)
	}
	norm := NormalizePath(body)
	label := norm
	if prefix {
		label = strings.TrimSuffix(norm, "/") + "/*"
	}
	return pattern{path: norm, prefix: prefix, label: label}, nil
}

// canonicalAPI is the prefix every API version is matched under; rules are
// written with it.
const canonicalAPI = "/api/v1"

// apiVersionRE matches the version names Stack Auth serves from the same
// handlers: release and beta versions (v1, v2beta1, v3alpha2) and "latest".
var apiVersionRE = regexp.MustCompile(`^(latest|v[0-9]+([a-z]+[0-9]*)?)$`)

// NormalizePath is the form paths are matched in: lower case, cleaned, and
// /api/<version>/... (also /api/migrations/<version>/..., the folders
// Stack Auth rewrites versions to) written as /api/v1/...
func NormalizePath(p string) string {
	p = path.Clean("/" + strings.ToLower(p))
	if version, rest, ok := splitAPIVersion(p); ok && apiVersionRE.MatchString(version) {
		return canonicalAPI + rest
	}
	return p
}

// splitAPIVersion splits a cleaned /api/<version><rest> or
// /api/migrations/<version><rest>; rest is empty or starts with "/".
func splitAPIVersion(p string) (version, rest string, ok bool) {
	after, ok := strings.CutPrefix(p, "/api/")
	if !ok || after == "" {
		return "", "", false
	}
	if inner, isMigration := strings.CutPrefix(after, "migrations/"); isMigration {
		after = inner
	}
	version, rest, _ = strings.Cut(after, "/")
	if rest != "" {
		rest = "/" + rest
	}
	return version, rest, true
}

// anyVersion reads an unknown /api/<segment>/<rest> as /api/v1/<rest>, so
// a version name Stack Auth may accept but the pattern does not know still
// counts against the rule (fail closed: a path that does not exist only
// costs its sender). ok is false when there is nothing to re-read.
func anyVersion(norm string) (string, bool) {
	_, rest, ok := splitAPIVersion(norm)
	if !ok || rest == "" || norm == canonicalAPI+rest {
		return "", false
	}
	return canonicalAPI + rest, true
}

func (p pattern) matches(norm string) bool {
	if !p.prefix {
		return norm == p.path
	}
	return norm == p.path || strings.HasPrefix(norm, strings.TrimSuffix(p.path, "/")+"/")
}

// Match finds the endpoint rules and route label for a request. The route
// label comes from the normalised path only; endpoint rules also apply
// through an unknown version segment (see anyVersion).
func (s *Set) Match(method, rawPath string) Match {
	norm := NormalizePath(rawPath)
	m := Match{Route: s.route(norm)}
	candidates := []string{norm}
	if alt, ok := anyVersion(norm); ok {
		candidates = append(candidates, alt)
	}
	method = strings.ToUpper(method)
	for _, e := range s.endpoints {
		if len(e.methods) > 0 && !slices.Contains(e.methods, method) {
			continue
		}
		if slices.ContainsFunc(e.patterns, func(p pattern) bool {
			return slices.ContainsFunc(candidates, p.matches)
		}) {
			m.Endpoints = append(m.Endpoints, e.limit)
		}
	}
	return m
}

// route prefers an exact template, then the longest matching prefix.
func (s *Set) route(norm string) string {
	best, bestLen := OtherRoute, -1
	for _, p := range s.routes {
		if !p.matches(norm) {
			continue
		}
		if !p.prefix {
			return p.label
		}
		if len(p.path) > bestLen {
			best, bestLen = p.label, len(p.path)
		}
	}
	return best
}

// Tier returns the limit of a tier.
func (s *Set) Tier(name string) (limiter.Limit, bool) {
	l, ok := s.tiers[name]
	return l, ok
}

// TierNames lists the tiers, sorted.
func (s *Set) TierNames() []string {
	names := make([]string, 0, len(s.tiers))
	for n := range s.tiers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Summary describes the rules in one line per rule, for the start-up log.
func (s *Set) Summary() []string {
	var out []string
	for _, n := range s.TierNames() {
		l := s.tiers[n]
		out = append(out, fmt.Sprintf("tier %s: %d per %v (store down: %s)", n, l.Max, l.Window, l.OnStoreError))
	}
	for _, e := range s.endpoints {
		out = append(out, fmt.Sprintf("endpoint %s: %d per %v (store down: %s)", e.limit.Rule, e.limit.Max, e.limit.Window, e.limit.OnStoreError))
	}
	return out
}
