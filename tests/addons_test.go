package tests

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/stackauth-platform/infra/components/externaldns"
	"github.com/stackauth-platform/infra/components/karpenter"
	"github.com/stackauth-platform/infra/components/lbcontroller"
	"github.com/stackauth-platform/infra/internal/k8svalidate"
	"github.com/stackauth-platform/infra/internal/plan"
	"github.com/stackauth-platform/infra/program"
)

// The Karpenter CRDs the custom resources are checked against come from the karpenter-provider-aws module at
// v1.14.1: the newest 1.14 release whose module the project's Go (1.26.8) can download (v1.14.2 and later need a
// newer Go). Its pkg/apis/crds is byte-for-byte the same as v1.14.3's, the version the charts install (compared
// with diff -r when the version was pinned). A minor upgrade of the charts must move this too.
const (
	karpenterModule    = "github.com/aws/karpenter-provider-aws"
	karpenterCRDSource = "v1.14.1"
)

const (
	helmRelease   = "kubernetes:helm.sh/v3:Release"
	iamRole       = "aws:iam/role:Role"
	nodePoolType  = "kubernetes:karpenter.sh/v1:NodePool"
	nodeClassType = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
	queueType     = "aws:sqs/queue:Queue"
)

// addon is one add-on with an IRSA role: the role, the release whose chart makes the service account, and the
// service account the role must trust.
type addon struct {
	role, release, namespace, serviceAccount string
}

var irsaAddons = []addon{
	{"karpenter", "karpenter", karpenter.Namespace, karpenter.ServiceAccount},
	{"aws-load-balancer-controller", "aws-load-balancer-controller", lbcontroller.Namespace, lbcontroller.ServiceAccount},
	{"external-dns", "external-dns", externaldns.Namespace, externaldns.ServiceAccount},
}

func TestPlanHasEveryAddonWithItsOwnRole(t *testing.T) {
	for _, stack := range stacks {
		p := preview(t, stack)
		named(t, p, helmRelease, "karpenter")
		named(t, p, helmRelease, "karpenter-crd")
		named(t, p, queueType, "karpenter-interruption")
		one(t, p, nodeClassType)
		one(t, p, nodePoolType)
		expect(t, named(t, p, "aws:eks/addon:Addon", "metrics-server"), "addonName", "metrics-server")
		named(t, p, helmRelease, "aws-load-balancer-controller")
		named(t, p, helmRelease, "external-dns")
		for _, a := range irsaAddons {
			named(t, p, iamRole, a.role)
		}
		// Karpenter's nodes get a role of their own too, not the managed node group's.
		if named(t, p, iamRole, "karpenter-node").URN == named(t, p, iamRole, "cluster-nodes").URN {
			t.Errorf("%s: Karpenter nodes reuse the managed node role", stack)
		}
	}
}

// What the mocks (internal/plan/outputs.go) answer after an `up`: the plan records inputs, so a test that follows
// an output into another resource's inputs compares with these.
func mockRoleARN(name string) string  { return "arn:aws:iam::123456789012:role/" + name }
func mockIssuer(region string) string { return "oidc.eks." + region + ".amazonaws.com/id/MOCK" }
func mockOIDCProviderARN(region string) string {
	return "arn:aws:iam::123456789012:oidc-provider/" + mockIssuer(region)
}

// fedBy says whether input of r was computed from the resource urn.
func fedBy(r plan.Resource, input, urn string) bool {
	for _, u := range r.PropertyDependencies[input] {
		if u == urn {
			return true
		}
	}
	return false
}

// Run as after an `up`, so the OIDC provider's ARN, the issuer and the roles' ARNs are known.
func TestAddonRolesTrustOnlyTheirOwnServiceAccount(t *testing.T) {
	for _, stack := range stacks {
		p := run(t, plan.Options{Stack: stack})
		region := in(one(t, p, "pulumi:providers:aws"), "region").(string)
		provider, issuer := mockOIDCProviderARN(region), mockIssuer(region)
		trusted := map[string]string{} // subject -> role
		for _, r := range p.ByType(iamRole) {
			doc := jsonInput(t, r, "assumeRolePolicy")
			for _, st := range doc["Statement"].([]any) {
				if sub, ok := in(plan.Resource{Inputs: st.(map[string]any)}, "Condition.StringEquals."+issuer+":sub").(string); ok {
					if other, dup := trusted[sub]; dup {
						t.Errorf("%s: %s is trusted by roles %s and %s", stack, sub, other, r.Name)
					}
					trusted[sub] = r.Name
				}
			}
		}
		for _, a := range irsaAddons {
			role := named(t, p, iamRole, a.role)
			doc := jsonInput(t, role, "assumeRolePolicy")
			statements := doc["Statement"].([]any)
			if len(statements) != 1 {
				t.Fatalf("%s: %s trust has %d statements, want 1: %v", stack, a.role, len(statements), doc)
			}
			st := plan.Resource{Inputs: statements[0].(map[string]any)}
			expect(t, st, "Effect", "Allow")
			expect(t, st, "Action", "sts:AssumeRoleWithWebIdentity")
			expect(t, st, "Principal.Federated", provider)
			want := map[string]any{
				issuer + ":sub": "system:serviceaccount:" + a.namespace + ":" + a.serviceAccount,
				issuer + ":aud": "sts.amazonaws.com",
			}
			if got := in(st, "Condition"); fmt.Sprint(got) != fmt.Sprint(map[string]any{"StringEquals": want}) {
				t.Errorf("%s: %s trusts %v, want only %v", stack, a.role, got, want)
			}

			// The chart must make exactly that service account, annotated with this role.
			release := named(t, p, helmRelease, a.release)
			expect(t, release, "namespace", a.namespace)
			expect(t, release, "values.serviceAccount.name", a.serviceAccount)
			expect(t, release, "values.serviceAccount.annotations.eks.amazonaws.com/role-arn", mockRoleARN(a.role))
		}
	}
}

func TestExternalDNSMayChangeOnlyTheConfiguredZone(t *testing.T) {
	for _, zone := range []string{"", "Z0OTHERZONE42"} {
		opts := plan.Options{Stack: "prod"}
		want := "Z0EXAMPLEPROD0000001" // Pulumi.prod.yaml
		if zone != "" {
			opts.Set = map[string]string{"stackauth:route53ZoneId": zone}
			want = zone
		}
		p := run(t, opts)
		zoneARN := "arn:aws:route53:::hostedzone/" + want
		doc := jsonInput(t, named(t, p, "aws:iam/rolePolicy:RolePolicy", "external-dns"), "policy")
		changes := 0
		for _, s := range doc["Statement"].([]any) {
			st := plan.Resource{Inputs: s.(map[string]any)}
			walkStrings(in(st, "Resource"), func(r string) {
				if strings.Contains(r, "hostedzone") && r != zoneARN {
					t.Errorf("zone %s: the policy names %s", want, r)
				}
			})
			actions := fmt.Sprint(in(st, "Action"))
			if strings.Contains(actions, "route53:ChangeResourceRecordSets") {
				changes++
				expect(t, st, "Resource", []string{zoneARN})
				expect(t, st, "Condition.ForAllValues:StringLike.route53:ChangeResourceRecordSetsNormalizedRecordNames",
					[]string{"auth.example.com", "*.auth.example.com"})
			}
			if fmt.Sprint(in(st, "Resource")) == "[*]" && actions != "[route53:ListHostedZones]" {
				t.Errorf("zone %s: %s on every resource", want, actions)
			}
		}
		if changes != 1 {
			t.Errorf("zone %s: %d statements allow record changes, want 1", want, changes)
		}

		release := named(t, p, helmRelease, "external-dns")
		expect(t, release, "values.sources", []string{"gateway-httproute"})
		expect(t, release, "values.policy", "upsert-only")
		expect(t, release, "values.txtOwnerId", "stackauth-prod")
		expect(t, release, "values.domainFilters", []string{"auth.example.com"})
		expect(t, release, "values.extraArgs", []string{"--zone-id-filter=" + want})
	}
}

func TestNodePoolFollowsConfig(t *testing.T) {
	p := run(t, plan.Options{Stack: "prod", Set: map[string]string{
		"stackauth:karpenterCpuLimit":      "96",
		"stackauth:karpenterMemoryLimit":   "384Gi",
		"stackauth:karpenterCapacityTypes": `["spot","on-demand"]`,
		"stackauth:karpenterAmiAlias":      "al2023@v20261201",
	}})
	pool := one(t, p, nodePoolType)
	expect(t, pool, "spec.limits.cpu", "96")
	expect(t, pool, "spec.limits.memory", "384Gi")
	expect(t, pool, "spec.template.spec.requirements.0", map[string]any{
		"key": "karpenter.sh/capacity-type", "operator": "In", "values": []any{"spot", "on-demand"},
	})
	expect(t, pool, "spec.disruption.consolidationPolicy", "WhenEmptyOrUnderutilized")
	expect(t, one(t, p, nodeClassType), "spec.amiSelectorTerms.0.alias", "al2023@v20261201")

	for stack, want := range map[string][2]string{"prod": {"80", "320Gi"}, "staging": {"24", "96Gi"}} {
		pool := one(t, preview(t, stack), nodePoolType)
		expect(t, pool, "spec.limits.cpu", want[0])
		expect(t, pool, "spec.limits.memory", want[1])
	}
}

func TestStackWhoseNodePoolCannotHoldTheHPAMaximaIsRefused(t *testing.T) {
	p, err := plan.Run(plan.Options{Stack: "prod", Dir: "..", Preview: true,
		Set: map[string]string{"stackauth:apiMaxReplicas": "100"}}, program.Define)
	if err == nil {
		t.Fatal("a NodePool of 80 CPU was accepted for 100 API pods of 1 CPU")
	}
	for _, want := range []string{"stackauth:karpenterCpuLimit: 80 cannot hold the HPA maxima", "stackauth:apiMaxReplicas 100",
		"stackauth:apiCpuRequest 1", "stackauth:gatewayMaxReplicas", "stackauth:karpenterPlatformCpu 8 = 111"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if len(p.Resources) != 0 {
		t.Errorf("%d resources were registered before the refusal", len(p.Resources))
	}
}

func TestKarpenterCustomResourcesWaitForTheReleasesAndFitTheirCRDs(t *testing.T) {
	if !strings.HasPrefix(karpenterCRDSource, "v"+minor(karpenter.Version)+".") {
		t.Fatalf("the charts install Karpenter %s but the CRDs checked are %s's: move karpenterCRDSource with the charts", karpenter.Version, karpenterCRDSource)
	}
	crd := func(file string) string {
		path, err := k8svalidate.ModuleFile(karpenterModule, karpenterCRDSource, "pkg/apis/crds/"+file)
		if err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, stack := range stacks {
		p := run(t, plan.Options{Stack: stack})
		crds, controller := named(t, p, helmRelease, "karpenter-crd"), named(t, p, helmRelease, "karpenter")
		expect(t, crds, "chart", karpenter.CRDChart.Name)
		expect(t, crds, "version", karpenter.Version)
		expect(t, controller, "version", karpenter.Version)
		for _, c := range []struct{ typ, file string }{
			{nodeClassType, "karpenter.k8s.aws_ec2nodeclasses.yaml"},
			{nodePoolType, "karpenter.sh_nodepools.yaml"},
		} {
			r := one(t, p, c.typ)
			for _, release := range []plan.Resource{crds, controller} {
				if !dependsOn(r, release.URN) {
					t.Errorf("%s: %s does not wait for the %s release", stack, r.Name, release.Name)
				}
			}
			if err := k8svalidate.ValidateAgainstCRD(crd(c.file), r.Inputs); err != nil {
				t.Errorf("%s: %v", stack, err)
			}
		}

		// The same check refuses what the API server would, so a pass above means something.
		broken := copyJSON(t, one(t, p, nodeClassType).Inputs)
		broken["spec"].(map[string]any)["metadataOptions"].(map[string]any)["httpTokens"] = "sometimes"
		if err := k8svalidate.ValidateAgainstCRD(crd("karpenter.k8s.aws_ec2nodeclasses.yaml"), broken); err == nil {
			t.Errorf("%s: an EC2NodeClass with httpTokens=sometimes passed the CRD check", stack)
		}
	}
}

func TestKarpenterNodesAndInterruptions(t *testing.T) {
	p := run(t, plan.Options{Stack: "prod"})
	class := one(t, p, nodeClassType)
	expect(t, class, "spec.metadataOptions.httpTokens", "required")
	expect(t, class, "spec.metadataOptions.httpPutResponseHopLimit", 1)
	expect(t, class, "spec.blockDeviceMappings.0.ebs.encrypted", true)
	expect(t, class, "spec.blockDeviceMappings.0.ebs.volumeType", "gp3")
	expect(t, class, "spec.subnetSelectorTerms.0.tags.karpenter.sh/discovery", "stackauth-prod")
	// The volume key, the security group and the profile are the cluster's key, the cluster's group and the
	// component's own profile.
	for _, from := range []plan.Resource{
		named(t, p, "aws:kms/key:Key", "cluster-secrets"),
		one(t, p, "aws:eks/cluster:Cluster"),
		named(t, p, "aws:iam/instanceProfile:InstanceProfile", "karpenter-node"),
	} {
		if !fedBy(class, "spec", from.URN) {
			t.Errorf("EC2NodeClass spec is not computed from %s %s", from.Type, from.Name)
		}
	}
	expect(t, class, "spec.blockDeviceMappings.0.ebs.kmsKeyID", "arn:aws:kms:us-east-1:123456789012:key/cluster-secrets")
	expect(t, class, "spec.securityGroupSelectorTerms.0.id", "sg-cluster-cluster")
	expect(t, class, "spec.instanceProfile", "karpenter-node")
	// The subnets Karpenter selects are the private ones only.
	for _, s := range p.ByType("aws:ec2/subnet:Subnet") {
		tagged := in(s, "tags.karpenter.sh/discovery") == "stackauth-prod"
		if private := strings.Contains(s.Name, "private"); tagged != private {
			t.Errorf("subnet %s: karpenter.sh/discovery tag %v, private %v", s.Name, tagged, private)
		}
	}
	entry := named(t, p, "aws:eks/accessEntry:AccessEntry", "karpenter-node")
	expect(t, entry, "type", "EC2_LINUX")
	expect(t, entry, "principalArn", mockRoleARN("karpenter-node"))

	queue := named(t, p, queueType, "karpenter-interruption")
	expect(t, queue, "sqsManagedSseEnabled", true)
	expect(t, named(t, p, helmRelease, "karpenter"), "values.settings.interruptionQueue", in(queue, "name"))
	queueARN := "arn:aws:sqs:us-east-1:123456789012:queue/karpenter-interruption"
	var detailTypes []string
	for _, rule := range p.ByType("aws:cloudwatch/eventRule:EventRule") {
		var pattern struct {
			DetailType []string `json:"detail-type"`
		}
		if err := json.Unmarshal([]byte(in(rule, "eventPattern").(string)), &pattern); err != nil {
			t.Fatal(err)
		}
		detailTypes = append(detailTypes, pattern.DetailType...)
		target := named(t, p, "aws:cloudwatch/eventTarget:EventTarget", rule.Name)
		expect(t, target, "arn", queueARN)
		if !fedBy(target, "rule", rule.URN) {
			t.Errorf("target %s does not belong to rule %s", target.Name, rule.Name)
		}
	}
	sort.Strings(detailTypes)
	for _, want := range []string{"AWS Health Event", "EC2 Instance Rebalance Recommendation", "EC2 Instance State-change Notification", "EC2 Spot Instance Interruption Warning"} {
		if i := sort.SearchStrings(detailTypes, want); i == len(detailTypes) || detailTypes[i] != want {
			t.Errorf("no EventBridge rule sends %q to the queue (rules: %v)", want, detailTypes)
		}
	}
	policy := jsonInput(t, named(t, p, "aws:sqs/queuePolicy:QueuePolicy", "karpenter-interruption"), "policy")
	var principals []string
	for _, s := range policy["Statement"].([]any) {
		st := plan.Resource{Inputs: s.(map[string]any)}
		if in(st, "Effect") == "Allow" {
			principals = append(principals, fmt.Sprint(in(st, "Principal.Service")))
			expect(t, st, "Action", "sqs:SendMessage")
			expect(t, st, "Resource", queueARN)
		}
	}
	sort.Strings(principals)
	if fmt.Sprint(principals) != "[events.amazonaws.com sqs.amazonaws.com]" {
		t.Errorf("queue policy allows %v", principals)
	}
}

func TestAddonPoliciesHaveNoWildcardWrites(t *testing.T) {
	p := run(t, plan.Options{Stack: "prod"})
	for _, a := range irsaAddons {
		doc := jsonInput(t, named(t, p, "aws:iam/rolePolicy:RolePolicy", a.role), "policy")
		for _, s := range doc["Statement"].([]any) {
			st := plan.Resource{Inputs: s.(map[string]any)}
			var actions []string
			walkStrings(in(st, "Action"), func(v string) { actions = append(actions, v) })
			for _, action := range actions {
				if strings.Contains(action, "*") {
					t.Errorf("%s: wildcard action %s", a.role, action)
				}
			}
			if fmt.Sprint(in(st, "Resource")) != "[*]" || in(st, "Condition") != nil {
				continue
			}
			for _, action := range actions {
				verb := action[strings.Index(action, ":")+1:]
				if !readOnly(verb) && !upstreamUnscoped[action] {
					t.Errorf("%s: %s on every resource, with no condition", a.role, action)
				}
			}
		}
	}
}

// upstreamUnscoped are the writes the AWS Load Balancer Controller's documented policy grants on every resource
// without a condition: the controller's own objects do not exist yet (CreateSecurityGroup), or the objects are not
// its own (the nodes' security group rules), or AWS offers no tag condition for them (listeners and rules, WAF and
// Shield associations).
var upstreamUnscoped = map[string]bool{
	"ec2:AuthorizeSecurityGroupIngress": true, "ec2:RevokeSecurityGroupIngress": true, "ec2:CreateSecurityGroup": true,
	"elasticloadbalancing:CreateListener": true, "elasticloadbalancing:DeleteListener": true,
	"elasticloadbalancing:CreateRule": true, "elasticloadbalancing:DeleteRule": true,
	"elasticloadbalancing:SetWebAcl": true, "elasticloadbalancing:ModifyListener": true,
	"elasticloadbalancing:AddListenerCertificates": true, "elasticloadbalancing:RemoveListenerCertificates": true,
	"elasticloadbalancing:ModifyRule": true, "elasticloadbalancing:SetRulePriorities": true,
	"waf-regional:AssociateWebACL": true, "waf-regional:DisassociateWebACL": true,
	"wafv2:AssociateWebACL": true, "wafv2:DisassociateWebACL": true,
	"shield:CreateProtection": true, "shield:DeleteProtection": true,
}

func readOnly(verb string) bool {
	for _, prefix := range []string{"Describe", "Get", "List"} {
		if strings.HasPrefix(verb, prefix) {
			return true
		}
	}
	return false
}

func TestLoadBalancerControllerKnowsItsVPC(t *testing.T) {
	p := run(t, plan.Options{Stack: "staging"})
	release := named(t, p, helmRelease, "aws-load-balancer-controller")
	expect(t, release, "values.clusterName", "stackauth-staging")
	expect(t, release, "values.region", "us-east-2")
	subnets := p.ByType("aws:ec2/subnet:Subnet")
	expect(t, release, "values.vpcId", in(subnets[0], "vpcId"))
	if in(release, "values.vpcId") == nil {
		t.Error("no vpcId given to the controller")
	}
	expect(t, release, "version", lbcontroller.Chart.Version)
	if gw := named(t, p, "kubernetes:gateway.networking.k8s.io/v1:Gateway", "edge-gateway"); !dependsOn(gw, release.URN) {
		t.Error("the edge's Gateway (whose LoadBalancer Service Envoy Gateway makes) does not wait for the controller")
	}
	for _, s := range subnets {
		if strings.Contains(s.Name, "public") {
			expect(t, s, "tags.kubernetes.io/role/elb", "1")
		}
	}
}

func TestAddonsCanBeTurnedOff(t *testing.T) {
	for _, c := range []struct {
		key   string
		gone  []string // type/name pairs, as "type name"
		stays string
	}{
		{"addonKarpenter", []string{helmRelease + " karpenter", queueType + " karpenter-interruption", nodePoolType + " karpenter-workloads"}, helmRelease + " external-dns"},
		{"addonMetricsServer", []string{"aws:eks/addon:Addon metrics-server"}, helmRelease + " karpenter"},
		{"addonLoadBalancerController", []string{helmRelease + " aws-load-balancer-controller", iamRole + " aws-load-balancer-controller"}, "aws:eks/addon:Addon metrics-server"},
		{"addonExternalDns", []string{helmRelease + " external-dns", iamRole + " external-dns"}, helmRelease + " aws-load-balancer-controller"},
	} {
		p := run(t, plan.Options{Stack: "staging", Preview: true, Set: map[string]string{"stackauth:" + c.key: "false"}})
		for _, g := range c.gone {
			typ, name, _ := strings.Cut(g, " ")
			if _, ok := p.Find(typ, name); ok {
				t.Errorf("%s=false: %s is still planned", c.key, g)
			}
		}
		typ, name, _ := strings.Cut(c.stays, " ")
		if _, ok := p.Find(typ, name); !ok {
			t.Errorf("%s=false also removed %s", c.key, c.stays)
		}
	}
}

func minor(version string) string {
	parts := strings.SplitN(version, ".", 3)
	return parts[0] + "." + parts[1]
}

func copyJSON(t *testing.T, v map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
