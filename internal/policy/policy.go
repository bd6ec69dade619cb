// Package policy checks a stack's offline plan against the security and
// reliability rules a reviewer of an AWS + EKS platform asks for: encryption,
// private data, least privilege, secrets kept secret, hardened workloads.
//
// It reads only internal/plan's types (and renders the plan's local Helm
// charts), never the Pulumi AWS SDK, so its tests build and run in seconds.
//
// Rules are written on resource types, not on the resources the program
// happens to create today: a rule whose subject exists must find what
// protects it (a node group needs a launch template that requires IMDSv2; an
// app namespace needs a default-deny NetworkPolicy), so a missing protection
// fires rather than passing for want of something to look at.
//
// Evaluate a plan made without Preview: there every value is known, so
// policies can read ARNs, trust policies and Helm values, and a credential
// that lost its secret flag shows as plan.SecretMarker text. A rule that meets
// a value it needs as plan.Unknown reports that it cannot verify it, which is
// a finding, not a pass.
package policy

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/stackauth-platform/infra/config"
	"github.com/stackauth-platform/infra/internal/plan"
)

// Finding is one violation: the rule, the resource, what is wrong and how
// to fix it.
type Finding struct {
	Rule     string
	Resource string
	Message  string
}

func (f Finding) String() string { return f.Rule + " " + f.Resource + ": " + f.Message }

// Rule is one policy.
type Rule struct {
	// ID is SCOPE-AREA-NNN, e.g. AWS-RDS-001.
	ID string
	// Description says in one line what a compliant stack has.
	Description string
	// Check returns the violations in the stack; Evaluate fills in Rule.
	Check func(s *Stack) []Finding
}

// Rules is the registry, in ID order (a test keeps it sorted and unique).
func Rules() []Rule {
	var all []Rule
	for _, group := range [][]Rule{awsDataRules, awsNetworkRules, awsIAMRules, secretRules, kubernetesRules} {
		all = append(all, group...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	return all
}

// Options say where the project lives.
type Options struct {
	// Dir is the project directory the plan was made in (local chart paths
	// of Helm releases are relative to it); default ".".
	Dir string
}

// Report is the result of evaluating every rule against one plan.
type Report struct {
	// Findings are sorted by rule and resource.
	Findings []Finding
	// Rules, Resources and Objects count what was evaluated: the rules, the
	// plan's resources and the Kubernetes objects (registered and rendered).
	Rules, Resources, Objects int
}

// Evaluate runs every rule against the plan.
func Evaluate(p *plan.Plan, opts Options) Report {
	s := NewStack(p, opts)
	rules := Rules()
	rep := Report{Rules: len(rules), Resources: len(p.Resources), Objects: len(s.objects)}
	for _, r := range rules {
		for _, f := range r.Check(s) {
			f.Rule = r.ID
			rep.Findings = append(rep.Findings, f)
		}
	}
	sort.SliceStable(rep.Findings, func(i, j int) bool {
		a, b := rep.Findings[i], rep.Findings[j]
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		return a.Resource < b.Resource
	})
	return rep
}

// Stack is a plan indexed for the rules, with the Kubernetes objects of its
// local charts rendered.
type Stack struct {
	Plan *plan.Plan
	Dir  string

	byURN map[string]*plan.Resource
	// objects are the Kubernetes objects: registered directly and rendered
	// from local charts.
	objects []*Object
	// unreadable lists objects and charts that could not be read.
	unreadable []Finding
}

// NewStack indexes a plan and renders its local charts.
func NewStack(p *plan.Plan, opts Options) *Stack {
	if opts.Dir == "" {
		opts.Dir = "."
	}
	s := &Stack{Plan: p, Dir: opts.Dir, byURN: map[string]*plan.Resource{}}
	for i := range p.Resources {
		s.byURN[p.Resources[i].URN] = &p.Resources[i]
	}
	s.collectObjects()
	return s
}

// Production reports whether the stack's config says stackauth:production.
func (s *Stack) Production() bool {
	return s.Plan.Config[config.FullKey("production")] == "true"
}

// Of returns the resources of the given types, in plan order.
func (s *Stack) Of(types ...string) []*plan.Resource {
	var out []*plan.Resource
	for i := range s.Plan.Resources {
		if r := &s.Plan.Resources[i]; slices.Contains(types, r.Type) {
			out = append(out, r)
		}
	}
	return out
}

// Resource returns the resource with that URN.
func (s *Stack) Resource(urn string) (*plan.Resource, bool) {
	r, ok := s.byURN[urn]
	return r, ok
}

// From returns the resources an input of r was computed from, of the given
// types (all types when none are given). It reads the property dependencies
// the program registered, so it works in preview and after an up alike.
func (s *Stack) From(r *plan.Resource, input string, types ...string) []*plan.Resource {
	var out []*plan.Resource
	for _, urn := range r.PropertyDependencies[input] {
		if dep, ok := s.byURN[urn]; ok && (len(types) == 0 || slices.Contains(types, dep.Type)) {
			out = append(out, dep)
		}
	}
	return out
}

// label names a plan resource in findings: its type and name, as the end of
// its URN reads.
func label(r *plan.Resource) string { return r.Type + "::" + r.Name }

func at(r *plan.Resource, format string, args ...any) Finding {
	return Finding{Resource: label(r), Message: fmt.Sprintf(format, args...)}
}

// unknown is the finding for a value a rule needs but the plan does not know.
func unknown(r *plan.Resource, what string) Finding {
	return at(r, "%s is unknown in this plan, so it cannot be verified; evaluate a plan made without Preview (as `cmd/plan --check` does)", what)
}

// get walks a path of map keys through plain JSON values.
func get(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// truthy reads a boolean that providers may also take as a string ("true").
func truthy(v any) bool { return v == true || v == "true" }

func isUnknown(v any) bool { return v == plan.Unknown }

// number reads a JSON number; ok is false for anything else.
func number(v any) (float64, bool) {
	n, ok := v.(float64)
	return n, ok
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

// strings returns the string items of a list (a single string counts as a
// list of one, as IAM allows).
func stringList(v any) []string {
	if s, ok := v.(string); ok {
		return []string{s}
	}
	var out []string
	for _, e := range list(v) {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// containsString reports whether any string anywhere in v (keys included)
// contains sub.
func containsString(v any, sub string) bool {
	switch x := v.(type) {
	case string:
		return strings.Contains(x, sub)
	case []any:
		for _, e := range x {
			if containsString(e, sub) {
				return true
			}
		}
	case map[string]any:
		for k, e := range x {
			if strings.Contains(k, sub) || containsString(e, sub) {
				return true
			}
		}
	}
	return false
}
