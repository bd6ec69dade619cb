package tests

// The posture policies (internal/policy) against the real stacks: each passes every rule, as `cmd/plan --check`
// evaluates them (a plan made without Preview), and each rule reads the resources the program really registers: a
// violation written into the real plan makes it fire.

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/stackauth-platform/infra/internal/plan"
	"github.com/stackauth-platform/infra/internal/policy"
)

// checked plans a stack as `cmd/plan --check` does.
func checked(t *testing.T, stack string) *plan.Plan {
	t.Helper()
	return run(t, plan.Options{Stack: stack})
}

func TestStacksPassEveryPolicy(t *testing.T) {
	for _, stack := range append([]string{"local"}, stacks...) {
		t.Run(stack, func(t *testing.T) {
			p := checked(t, stack)
			rep := policy.Evaluate(p, policy.Options{Dir: ".."})
			for _, f := range rep.Findings {
				t.Error(f)
			}
			// The rules had the platform to look at, including what only rendering the local chart shows.
			s := policy.NewStack(p, policy.Options{Dir: ".."})
			rendered, registered := 0, 0
			for _, w := range s.Workloads() {
				if w.Template != "" {
					rendered++
				} else {
					registered++
				}
			}
			if rendered == 0 || registered == 0 {
				t.Errorf("%d workloads rendered from local charts and %d registered directly; want both", rendered, registered)
			}
			t.Logf("%s: %d rules, %d resources, %d Kubernetes objects, %d workloads (%d rendered), %d findings",
				stack, rep.Rules, rep.Resources, rep.Objects, rendered+registered, rendered, len(rep.Findings))
		})
	}
}

// violation is a change to the real prod plan that one rule must catch.
type violation struct {
	rule string
	name string
	// edit changes the plan; it fails the test when the resource it needs is not there.
	edit func(t *testing.T, p *plan.Plan)
}

var violations = []violation{
	{"AWS-RDS-001", "database stored in clear", func(t *testing.T, p *plan.Plan) {
		first(t, p, "aws:rds/instance:Instance", nil).Inputs["storageEncrypted"] = false
	}},
	{"AWS-RDS-003", "rds.force_ssl dropped", func(t *testing.T, p *plan.Plan) {
		g := first(t, p, "aws:rds/parameterGroup:ParameterGroup", nil)
		var kept []any
		for _, param := range g.Inputs["parameters"].([]any) {
			if param.(map[string]any)["name"] != "rds.force_ssl" {
				kept = append(kept, param)
			}
		}
		g.Inputs["parameters"] = kept
	}},
	{"AWS-RDS-005", "single-AZ database", func(t *testing.T, p *plan.Plan) {
		first(t, p, "aws:rds/instance:Instance", nil).Inputs["multiAz"] = false
	}},
	{"AWS-EC-002", "Redis admits plain text", func(t *testing.T, p *plan.Plan) {
		first(t, p, "aws:elasticache/replicationGroup:ReplicationGroup", nil).Inputs["transitEncryptionMode"] = "preferred"
	}},
	{"AWS-EC2-001", "nodes answer IMDSv1", func(t *testing.T, p *plan.Plan) {
		lt := first(t, p, "aws:ec2/launchTemplate:LaunchTemplate", nil)
		lt.Inputs["metadataOptions"].(map[string]any)["httpTokens"] = "optional"
	}},
	{"AWS-EKS-002", "EKS API open to the internet", func(t *testing.T, p *plan.Plan) {
		c := first(t, p, "aws:eks/cluster:Cluster", nil)
		c.Inputs["vpcConfig"].(map[string]any)["publicAccessCidrs"] = []any{"0.0.0.0/0"}
	}},
	{"AWS-NET-001", "database in the public subnets", func(t *testing.T, p *plan.Plan) {
		g := first(t, p, "aws:rds/subnetGroup:SubnetGroup", nil)
		var public []string
		for _, r := range p.ByType("aws:ec2/subnet:Subnet") {
			if in(r, "tags.kubernetes.io/role/elb") == "1" {
				public = append(public, r.URN)
			}
		}
		if len(public) == 0 {
			t.Fatal("no public subnet")
		}
		g.PropertyDependencies["subnetIds"] = public
	}},
	{"AWS-IAM-001", "a role policy allows a whole service everywhere", func(t *testing.T, p *plan.Plan) {
		r := first(t, p, "aws:iam/rolePolicy:RolePolicy", nil)
		var doc map[string]any
		if err := json.Unmarshal([]byte(r.Inputs["policy"].(string)), &doc); err != nil {
			t.Fatal(err)
		}
		st := doc["Statement"].([]any)[0].(map[string]any)
		st["Action"], st["Resource"] = []any{"kms:*"}, "*"
		b, _ := json.Marshal(doc)
		r.Inputs["policy"] = string(b)
	}},
	{"AWS-IAM-003", "an IRSA role trusts every service account of its namespace", func(t *testing.T, p *plan.Plan) {
		subject := regexp.MustCompile(`(system:serviceaccount:[^:"]+:)[^"]+`)
		r := first(t, p, "aws:iam/role:Role", func(r *plan.Resource) bool {
			return subject.MatchString(str(r.Inputs["assumeRolePolicy"]))
		})
		r.Inputs["assumeRolePolicy"] = subject.ReplaceAllString(r.Inputs["assumeRolePolicy"].(string), "${1}*")
	}},
	{"SEC-002", "the database password in clear", func(t *testing.T, p *plan.Plan) {
		first(t, p, "aws:rds/instance:Instance", nil).Inputs["password"] = plan.SecretMarker + "db-password"
	}},
	{"SEC-003", "a secret env var in the Stack Auth values", func(t *testing.T, p *plan.Plan) {
		r := first(t, p, "kubernetes:helm.sh/v3:Release", localChart)
		r.Inputs["values"].(map[string]any)["extraEnv"] = map[string]any{"STACK_SERVER_SECRET": "hunter2hunter2"}
	}},
	{"K8S-POD-001", "Stack Auth rendered to run as root", func(t *testing.T, p *plan.Plan) {
		r := first(t, p, "kubernetes:helm.sh/v3:Release", localChart)
		r.Inputs["values"].(map[string]any)["podSecurity"] = map[string]any{"runAsUser": 0, "runAsGroup": 0}
	}},
	{"K8S-IMG-002", "the gateway by tag", func(t *testing.T, p *plan.Plan) {
		d := first(t, p, "kubernetes:apps/v1:Deployment", func(r *plan.Resource) bool {
			return strings.Contains(str(in(*r, "spec.template.spec.containers.0.image")), "/ratelimit@")
		})
		c := d.Inputs["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
		c["image"] = strings.SplitN(c["image"].(string), "@", 2)[0] + ":1.0.0"
	}},
	{"K8S-NET-001", "the app namespace without its default deny", func(t *testing.T, p *plan.Plan) {
		deny := first(t, p, "kubernetes:networking.k8s.io/v1:NetworkPolicy", func(r *plan.Resource) bool {
			spec, _ := r.Inputs["spec"].(map[string]any)
			selector, _ := spec["podSelector"].(map[string]any)
			return len(selector) == 0
		}).URN
		var kept []plan.Resource
		for _, r := range p.Resources {
			if r.URN != deny {
				kept = append(kept, r)
			}
		}
		p.Resources = kept
	}},
	{"K8S-PDB-001", "the gateway without its disruption budget", func(t *testing.T, p *plan.Plan) {
		pdb := first(t, p, "kubernetes:policy/v1:PodDisruptionBudget", nil)
		pdb.Inputs["spec"].(map[string]any)["selector"] = map[string]any{"matchLabels": map[string]any{"nothing": "matches"}}
	}},
	{"K8S-MON-001", "a ServiceMonitor Prometheus does not select", func(t *testing.T, p *plan.Plan) {
		first(t, p, "kubernetes:monitoring.coreos.com/v1:ServiceMonitor", nil).Inputs["metadata"].(map[string]any)["labels"] = map[string]any{}
	}},
	{"K8S-CRD-001", "a ClusterIssuer created before cert-manager", func(t *testing.T, p *plan.Plan) {
		r := first(t, p, "kubernetes:cert-manager.io/v1:ClusterIssuer", nil)
		r.DependsOn, r.PropertyDependencies = nil, map[string][]string{}
	}},
}

func TestEachPolicyCatchesItsViolationInTheRealPlan(t *testing.T) {
	base := checked(t, "prod")
	for _, v := range violations {
		t.Run(v.rule+"/"+v.name, func(t *testing.T) {
			p := clonePlan(t, base)
			v.edit(t, p)
			for _, f := range policy.Evaluate(p, policy.Options{Dir: ".."}).Findings {
				if f.Rule == v.rule {
					t.Log(f)
					return
				}
			}
			t.Errorf("%s did not fire", v.rule)
		})
	}
}

// first returns the first resource of a type that matches (any, when match is nil), for editing.
func first(t *testing.T, p *plan.Plan, typ string, match func(*plan.Resource) bool) *plan.Resource {
	t.Helper()
	for i := range p.Resources {
		r := &p.Resources[i]
		if r.Type == typ && (match == nil || match(r)) {
			return r
		}
	}
	t.Fatalf("no %s to edit", typ)
	return nil
}

// localChart matches releases of a chart in this repository.
func localChart(r *plan.Resource) bool { return strings.HasPrefix(str(r.Inputs["chart"]), "charts/") }

func str(v any) string {
	s, _ := v.(string)
	return s
}

// clonePlan copies a plan deeply enough that edits to inputs, dependencies and options leave the original alone.
func clonePlan(t *testing.T, p *plan.Plan) *plan.Plan {
	t.Helper()
	out := *p
	out.Resources = make([]plan.Resource, len(p.Resources))
	for i, r := range p.Resources {
		b, err := json.Marshal(r.Inputs)
		if err != nil {
			t.Fatal(err)
		}
		r.Inputs = nil
		if err := json.Unmarshal(b, &r.Inputs); err != nil {
			t.Fatal(err)
		}
		r.DependsOn = append([]string(nil), r.DependsOn...)
		deps := map[string][]string{}
		for k, v := range r.PropertyDependencies {
			deps[k] = append([]string(nil), v...)
		}
		r.PropertyDependencies = deps
		out.Resources[i] = r
	}
	return &out
}
