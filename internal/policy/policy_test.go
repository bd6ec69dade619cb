package policy

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stackauth-platform/infra/internal/plan"
)

// builder writes a small plan by hand: resources with inputs as JSON text,
// the property dependencies and options the program would register.
type builder struct {
	p plan.Plan
}

func newPlan() *builder {
	// Every stack's config names its Kubernetes version; local charts render for it.
	config := map[string]string{"stackauth:kubernetesVersion": "1.35"}
	return &builder{p: plan.Plan{Stack: "test", Config: config, Outputs: map[string]any{}}}
}

func (b *builder) production() *builder {
	b.p.Config["stackauth:production"] = "true"
	return b
}

type option func(*plan.Resource)

// from records that an input was computed from the outputs of resources.
func from(input string, urns ...string) option {
	return func(r *plan.Resource) { r.PropertyDependencies[input] = append(r.PropertyDependencies[input], urns...) }
}

// after is pulumi.DependsOn.
func after(urns ...string) option {
	return func(r *plan.Resource) { r.DependsOn = append(r.DependsOn, urns...) }
}

func protected() option { return func(r *plan.Resource) { r.Protect = true } }

// add registers a resource and returns its URN.
func (b *builder) add(typ, name, inputs string, opts ...option) string {
	var in map[string]any
	if err := json.Unmarshal([]byte(inputs), &in); err != nil {
		panic(fmt.Sprintf("fixture %s %s: %v\n%s", typ, name, err, inputs))
	}
	r := plan.Resource{
		URN:  "urn:pulumi:test::stackauth::" + typ + "::" + name,
		Type: typ, Name: name, Custom: !strings.HasPrefix(typ, "stackauth:"),
		Inputs: in, PropertyDependencies: map[string][]string{},
	}
	for _, o := range opts {
		o(&r)
	}
	b.p.Resources = append(b.p.Resources, r)
	return r.URN
}

// ruleCase is a small plan and whether one rule must fire on it.
type ruleCase struct {
	rule  string
	name  string
	build func(b *builder)
	fires bool
}

// cases are every rule's cases; each rules_*_test.go file adds its own.
var cases []ruleCase

func register(cs ...ruleCase) bool {
	cases = append(cases, cs...)
	return true
}

func ruleByID(t *testing.T, id string) Rule {
	t.Helper()
	for _, r := range Rules() {
		if r.ID == id {
			return r
		}
	}
	t.Fatalf("no rule %s", id)
	return Rule{}
}

func TestEachRuleFiresOnItsViolationAndNotOnACompliantPlan(t *testing.T) {
	for _, c := range cases {
		t.Run(c.rule+"/"+c.name, func(t *testing.T) {
			b := newPlan()
			c.build(b)
			rule := ruleByID(t, c.rule)
			findings := rule.Check(NewStack(&b.p, Options{Dir: "testdata"}))
			if c.fires && len(findings) == 0 {
				t.Fatalf("%s did not fire", c.rule)
			}
			if !c.fires && len(findings) > 0 {
				t.Fatalf("%s fired on a compliant plan: %v", c.rule, findings)
			}
			for _, f := range findings {
				t.Log(f)
				if f.Resource == "" || !strings.Contains(f.Message, ";") {
					t.Errorf("finding %+v must name the resource and say what is wrong; how to fix", f)
				}
			}
		})
	}
}

// Every rule is tested both ways, so a new rule cannot land untested.
func TestEveryRuleHasAFiringAndACleanCase(t *testing.T) {
	fires, clean := map[string]bool{}, map[string]bool{}
	for _, c := range cases {
		if c.fires {
			fires[c.rule] = true
		} else {
			clean[c.rule] = true
		}
	}
	for _, r := range Rules() {
		if !fires[r.ID] || !clean[r.ID] {
			t.Errorf("%s needs a case where it fires and one where it does not (have fires=%v, clean=%v)", r.ID, fires[r.ID], clean[r.ID])
		}
	}
}

var ruleID = regexp.MustCompile(`^(AWS|K8S|SEC)(-[A-Z0-9]+)?-[0-9]{3}$`)

func TestRegistryIsSortedUniqueAndDescribed(t *testing.T) {
	rules := Rules()
	if len(rules) < 25 {
		t.Errorf("%d rules, want at least 25", len(rules))
	}
	seen := map[string]bool{}
	for i, r := range rules {
		if !ruleID.MatchString(r.ID) {
			t.Errorf("rule id %q is not SCOPE-AREA-NNN", r.ID)
		}
		if seen[r.ID] {
			t.Errorf("rule id %s is registered twice", r.ID)
		}
		seen[r.ID] = true
		if i > 0 && rules[i-1].ID > r.ID {
			t.Errorf("rules out of order: %s before %s", rules[i-1].ID, r.ID)
		}
		if r.Description == "" || strings.Contains(r.Description, "\n") || r.Check == nil {
			t.Errorf("rule %s needs a one-line description and a check", r.ID)
		}
	}
}

func TestEvaluateNamesRuleResourceAndFixInOrder(t *testing.T) {
	b := newPlan()
	b.add(logGroup, "b-logs", `{}`)
	b.add(logGroup, "a-logs", `{"retentionInDays": 0}`)
	b.add(kmsKey, "key", `{"enableKeyRotation": false}`)
	rep := Evaluate(&b.p, Options{})
	var lines []string
	for _, f := range rep.Findings {
		lines = append(lines, f.String())
	}
	want := []string{
		"AWS-KMS-001 aws:kms/key:Key::key: enableKeyRotation is off; set enableKeyRotation: true so the key material is renewed every year",
		"AWS-LOG-001 aws:cloudwatch/logGroup:LogGroup::a-logs: no retentionInDays, so logs are kept (and billed) forever; set a retention",
		"AWS-LOG-001 aws:cloudwatch/logGroup:LogGroup::b-logs: no retentionInDays, so logs are kept (and billed) forever; set a retention",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if rep.Rules != len(Rules()) || rep.Resources != 3 || rep.Objects != 0 {
		t.Errorf("report counts %d rules, %d resources, %d objects", rep.Rules, rep.Resources, rep.Objects)
	}
}

func TestKubeTypeReadsObjectTokensOnly(t *testing.T) {
	for token, want := range map[string]string{
		"kubernetes:apps/v1:Deployment":               "apps/v1 Deployment",
		"kubernetes:core/v1:Namespace":                "v1 Namespace",
		"kubernetes:cert-manager.io/v1:ClusterIssuer": "cert-manager.io/v1 ClusterIssuer",
		"kubernetes:helm.sh/v3:Release":               "",
		"kubernetes:yaml/v2:ConfigGroup":              "",
		"kubernetes:yaml:ConfigFile":                  "",
		"kubernetes:apps/v1:DeploymentPatch":          "",
		"pulumi:providers:kubernetes":                 "",
		"aws:rds/instance:Instance":                   "",
	} {
		apiVersion, kind, ok := kubeType(token)
		got := ""
		if ok {
			got = apiVersion + " " + kind
		}
		if got != want {
			t.Errorf("kubeType(%q) = %q, want %q", token, got, want)
		}
	}
}

// The README's rule table is the registry, line for line.
func TestReadmeListsEveryRule(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "\n## Posture policies\n")
	if start < 0 {
		t.Fatal("README has no ## Posture policies section")
	}
	section := text[start+1:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	var table []string
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "| `") {
			table = append(table, line)
		}
	}
	var want []string
	for _, r := range Rules() {
		want = append(want, "| `"+r.ID+"` | "+strings.ReplaceAll(r.Description, "|", `\|`)+" |")
	}
	if strings.Join(table, "\n") != strings.Join(want, "\n") {
		t.Errorf("README rule table:\n%s\nwant (from Rules()):\n%s", strings.Join(table, "\n"), strings.Join(want, "\n"))
	}
}
