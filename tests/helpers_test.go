// Package tests runs the whole program, per stack, under Pulumi's mock engine
// and asserts on what it registers. All program-level tests live in this one
// package so the AWS SDK is linked into a single test binary.
package tests

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stackauth-platform/infra/internal/plan"
	"github.com/stackauth-platform/infra/program"
)

// stacks are the stack files the repository ships for AWS.
var stacks = []string{"prod", "staging"}

// run plans a stack from the repository root.
func run(t *testing.T, opts plan.Options) *plan.Plan {
	t.Helper()
	opts.Dir = ".."
	p, err := plan.Run(opts, program.Define)
	if err != nil {
		t.Fatalf("plan %s: %v", opts.Stack, err)
	}
	return p
}

func preview(t *testing.T, stack string) *plan.Plan {
	return run(t, plan.Options{Stack: stack, Preview: true})
}

// one returns the only resource of a type, failing if there is not exactly one.
func one(t *testing.T, p *plan.Plan, typ string) plan.Resource {
	t.Helper()
	rs := p.ByType(typ)
	if len(rs) != 1 {
		t.Fatalf("%s: %d resources of type %s, want 1", p.Stack, len(rs), typ)
	}
	return rs[0]
}

func named(t *testing.T, p *plan.Plan, typ, name string) plan.Resource {
	t.Helper()
	r, ok := p.Find(typ, name)
	if !ok {
		t.Fatalf("%s: no %s named %s", p.Stack, typ, name)
	}
	return r
}

// in walks a dotted path (numbers index arrays) through a resource's inputs.
// Map keys may themselves hold dots (tag and annotation names such as
// kubernetes.io/role/elb): the longest key that matches is taken.
func in(r plan.Resource, path string) any {
	return walk(r.Inputs, strings.Split(path, "."))
}

func walk(cur any, parts []string) any {
	if len(parts) == 0 {
		return cur
	}
	switch c := cur.(type) {
	case map[string]any:
		for n := len(parts); n > 0; n-- {
			if v, ok := c[strings.Join(parts[:n], ".")]; ok {
				return walk(v, parts[n:])
			}
		}
	case []any:
		var i int
		if _, err := fmt.Sscan(parts[0], &i); err == nil && i < len(c) {
			return walk(c[i], parts[1:])
		}
	}
	return nil
}

func expect(t *testing.T, r plan.Resource, path string, want any) {
	t.Helper()
	got := in(r, path)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s %s: %s = %v, want %v", r.Type, r.Name, path, got, want)
	}
}

func dependsOn(r plan.Resource, urn string) bool {
	for _, d := range r.DependsOn {
		if d == urn {
			return true
		}
	}
	return false
}

// jsonInput decodes an input that holds a JSON document (IAM policies).
func jsonInput(t *testing.T, r plan.Resource, key string) map[string]any {
	t.Helper()
	s, ok := r.Inputs[key].(string)
	if !ok {
		t.Fatalf("%s %s: input %s is %v, not a JSON string", r.Type, r.Name, key, r.Inputs[key])
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(s), &doc); err != nil {
		t.Fatalf("%s %s: input %s: %v", r.Type, r.Name, key, err)
	}
	return doc
}

// walkStrings calls fn for every string in a rendered value.
func walkStrings(v any, fn func(string)) {
	switch x := v.(type) {
	case string:
		fn(x)
	case []any:
		for _, e := range x {
			walkStrings(e, fn)
		}
	case map[string]any:
		for k, e := range x {
			fn(k)
			walkStrings(e, fn)
		}
	}
}
