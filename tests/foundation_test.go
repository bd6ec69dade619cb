package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stackauth-platform/infra/internal/plan"
	"github.com/stackauth-platform/infra/program"
)

func TestStacksContainTheFoundation(t *testing.T) {
	for _, stack := range stacks {
		t.Run(stack, func(t *testing.T) {
			p := preview(t, stack)
			for _, typ := range []string{
				"pulumi:providers:aws",
				"aws:ec2/vpc:Vpc",
				"aws:eks/cluster:Cluster",
				"aws:eks/nodeGroup:NodeGroup",
				"aws:rds/instance:Instance",
				"aws:rds/parameterGroup:ParameterGroup",
				"aws:elasticache/replicationGroup:ReplicationGroup",
				"aws:elasticache/parameterGroup:ParameterGroup",
				"aws:secretsmanager/secret:Secret",
				"aws:iam/openIdConnectProvider:OpenIdConnectProvider",
				"pulumi:providers:kubernetes",
				"kubernetes:storage.k8s.io/v1:StorageClass",
			} {
				if len(p.ByType(typ)) == 0 {
					t.Errorf("no %s", typ)
				}
			}
			if n := len(p.ByType("random:index/randomPassword:RandomPassword")); n < 6 {
				t.Errorf("%d RandomPasswords, want every generated credential to be one", n)
			}
		})
	}
}

func TestEveryResourceHasAParentAndAWSResourcesTheStackProvider(t *testing.T) {
	for _, stack := range stacks {
		p := preview(t, stack)
		aws := one(t, p, "pulumi:providers:aws")
		expect(t, aws, "region", map[string]string{"prod": "us-east-1", "staging": "us-east-2"}[stack])
		for _, r := range p.Resources {
			if r.Parent == "" {
				t.Errorf("%s: %s %s has no parent", stack, r.Type, r.Name)
			}
			if _, ok := p.ByURN(r.Parent); !ok && !strings.HasSuffix(r.Parent, "pulumi:pulumi:Stack::stackauth-"+stack) {
				t.Errorf("%s: %s %s has parent %s, which is neither registered nor the stack", stack, r.Type, r.Name, r.Parent)
			}
			if strings.HasPrefix(r.Type, "aws:") && r.Provider != aws.URN {
				t.Errorf("%s: %s %s uses provider %q, not the stack's aws provider", stack, r.Type, r.Name, r.Provider)
			}
		}
	}
}

func TestNetwork(t *testing.T) {
	for _, stack := range stacks {
		p := preview(t, stack)
		vpc := one(t, p, "aws:ec2/vpc:Vpc")
		expect(t, vpc, "cidrBlock", map[string]string{"prod": "10.20.0.0/16", "staging": "10.30.0.0/16"}[stack])
		expect(t, vpc, "enableDnsHostnames", true)

		var public, private int
		zones := map[string]bool{}
		for _, s := range p.ByType("aws:ec2/subnet:Subnet") {
			zones[in(s, "availabilityZone").(string)] = true
			expect(t, s, "mapPublicIpOnLaunch", false)
			if in(s, "tags.kubernetes.io/role/elb") == "1" {
				public++
				expect(t, s, "tags.kubernetes.io/cluster/stackauth-"+stack, "shared")
			}
			if in(s, "tags.kubernetes.io/role/internal-elb") == "1" {
				private++
			}
		}
		if public != 3 || private != 3 || len(zones) != 3 {
			t.Errorf("%s: %d public, %d private subnets over %d AZs; want 3 and 3 over 3", stack, public, private, len(zones))
		}
		wantNAT := map[string]int{"prod": 3, "staging": 1}[stack]
		if n := len(p.ByType("aws:ec2/natGateway:NatGateway")); n != wantNAT {
			t.Errorf("%s: %d NAT gateways, want %d", stack, n, wantNAT)
		}
		flow := one(t, p, "aws:ec2/flowLog:FlowLog")
		expect(t, flow, "trafficType", "ALL")
		// The policy names the log group's ARN, known once it exists.
		deployed := run(t, plan.Options{Stack: stack})
		policy := jsonInput(t, named(t, deployed, "aws:iam/rolePolicy:RolePolicy", "network-flow-logs"), "policy")
		for _, st := range policy["Statement"].([]any) {
			for _, res := range st.(map[string]any)["Resource"].([]any) {
				if res == "*" {
					t.Errorf("%s: flow log role may write to every log group", stack)
				}
			}
		}
	}
}

func TestCluster(t *testing.T) {
	for _, stack := range stacks {
		p := preview(t, stack)
		c := one(t, p, "aws:eks/cluster:Cluster")
		expect(t, c, "name", "stackauth-"+stack)
		expect(t, c, "version", "1.35")
		expect(t, c, "encryptionConfig.resources", []string{"secrets"})
		expect(t, c, "accessConfig.authenticationMode", "API")
		expect(t, c, "vpcConfig.endpointPrivateAccess", true)
		expect(t, c, "vpcConfig.publicAccessCidrs", []string{"203.0.113.0/24"})
		if in(c, "encryptionConfig.provider.keyArn") == nil {
			t.Errorf("%s: no KMS key for secrets encryption", stack)
		}

		ng := one(t, p, "aws:eks/nodeGroup:NodeGroup")
		minNodes := map[string]int{"prod": 5, "staging": 3}[stack]
		if got := in(ng, "scalingConfig.minSize").(float64); int(got) < minNodes {
			t.Errorf("%s: node group min %v, want at least %d", stack, got, minNodes)
		}
		expect(t, ng, "instanceTypes", []string{"m7i.2xlarge"})
		expect(t, ng, "amiType", "AL2023_x86_64_STANDARD")
		lt := one(t, p, "aws:ec2/launchTemplate:LaunchTemplate")
		expect(t, lt, "metadataOptions.httpTokens", "required")
		expect(t, lt, "blockDeviceMappings.0.ebs.encrypted", "true")
		cni := named(t, p, "aws:eks/addon:Addon", "cluster-vpc-cni")
		if !dependsOn(ng, cni.URN) {
			t.Errorf("%s: nodes do not wait for vpc-cni; they would never become Ready", stack)
		}

		addons := map[string]bool{}
		for _, a := range p.ByType("aws:eks/addon:Addon") {
			addons[in(a, "addonName").(string)] = true
		}
		for _, want := range []string{"vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver"} {
			if !addons[want] {
				t.Errorf("%s: add-on %s missing", stack, want)
			}
		}
		expect(t, cni, "configurationValues", `{"enableNetworkPolicy":"true"}`)
		if in(cni, "serviceAccountRoleArn") == nil {
			t.Errorf("%s: vpc-cni runs on the node role instead of IRSA", stack)
		}

		expect(t, named(t, p, "aws:eks/accessEntry:AccessEntry", "cluster-ci"), "principalArn", "arn:aws:iam::123456789012:role/stackauth-ci-deploy")
		expect(t, named(t, p, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation", "cluster-ci-readonly"),
			"policyArn", "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAdminViewPolicy")

		sc := one(t, p, "kubernetes:storage.k8s.io/v1:StorageClass")
		expect(t, sc, "metadata.name", "gp3")
		expect(t, sc, "metadata.annotations.storageclass.kubernetes.io/is-default-class", "true")
		expect(t, sc, "parameters.encrypted", "true")
		k8s := one(t, p, "pulumi:providers:kubernetes")
		if sc.Provider != k8s.URN {
			t.Errorf("%s: StorageClass is not deployed through the cluster's provider", stack)
		}
		expect(t, k8s, "kubeconfig", plan.Secret)
		if !dependsOn(k8s, ng.URN) {
			t.Errorf("%s: kubernetes provider does not wait for the nodes", stack)
		}
		if p.Outputs["kubeconfig"] != plan.Secret {
			t.Errorf("%s: kubeconfig output is %v, want secret", stack, p.Outputs["kubeconfig"])
		}
	}
}

func TestDatabase(t *testing.T) {
	for _, stack := range stacks {
		p := preview(t, stack)
		prod := stack == "prod"
		db := one(t, p, "aws:rds/instance:Instance")
		expect(t, db, "engine", "postgres")
		expect(t, db, "engineVersion", "17")
		expect(t, db, "storageType", "gp3")
		expect(t, db, "allocatedStorage", 200)
		expect(t, db, "storageEncrypted", true)
		expect(t, db, "publiclyAccessible", false)
		expect(t, db, "performanceInsightsEnabled", true)
		expect(t, db, "password", plan.Secret)
		expect(t, db, "multiAz", prod)
		expect(t, db, "deletionProtection", prod)
		if db.Protect != prod {
			t.Errorf("%s: protect=%v, want %v", stack, db.Protect, prod)
		}
		if days := in(db, "backupRetentionPeriod").(float64); prod && days < 7 {
			t.Errorf("prod keeps %v days of backups, want >= 7", days)
		}
		if got, max := in(db, "allocatedStorage").(float64), in(db, "maxAllocatedStorage").(float64); max <= got {
			t.Errorf("%s: no storage autoscaling headroom (%v of %v)", stack, got, max)
		}

		params := map[string][2]string{}
		pg := one(t, p, "aws:rds/parameterGroup:ParameterGroup")
		expect(t, pg, "family", "postgres17")
		for _, v := range in(pg, "parameters").([]any) {
			m := v.(map[string]any)
			params[m["name"].(string)] = [2]string{m["value"].(string), m["applyMethod"].(string)}
		}
		for name, want := range map[string][2]string{
			"max_connections":      {"500", "pending-reboot"},
			"shared_buffers":       {"262144", "pending-reboot"},
			"effective_cache_size": {"786432", "immediate"},
			"work_mem":             {"16384", "immediate"},
			"rds.force_ssl":        {"1", "immediate"},
		} {
			if params[name] != want {
				t.Errorf("%s: parameter %s = %v, want %v", stack, name, params[name], want)
			}
		}

		sg := named(t, p, "aws:ec2/securityGroup:SecurityGroup", "database")
		checkSecurityGroupFromNodesOnly(t, p, sg, 5432)
	}
}

// checkSecurityGroupFromNodesOnly asserts one ingress rule, on one port, from
// the cluster's security group and no CIDR.
func checkSecurityGroupFromNodesOnly(t *testing.T, p *plan.Plan, sg plan.Resource, port int) {
	t.Helper()
	rules, _ := in(sg, "ingress").([]any)
	if len(rules) != 1 {
		t.Fatalf("%s: security group %s has %d ingress rules, want 1", p.Stack, sg.Name, len(rules))
	}
	expect(t, sg, "ingress.0.fromPort", port)
	expect(t, sg, "ingress.0.toPort", port)
	if in(sg, "ingress.0.cidrBlocks") != nil || in(sg, "ingress.0.ipv6CidrBlocks") != nil {
		t.Errorf("%s: security group %s admits CIDRs", p.Stack, sg.Name)
	}
	if egress, _ := in(sg, "egress").([]any); len(egress) != 0 {
		t.Errorf("%s: security group %s has egress rules", p.Stack, sg.Name)
	}
	// The source is the cluster's security group, an output of the EKS cluster.
	cluster := one(t, p, "aws:eks/cluster:Cluster")
	found := false
	for _, u := range sg.PropertyDependencies["ingress"] {
		found = found || u == cluster.URN
	}
	if !found {
		t.Errorf("%s: security group %s ingress is not computed from the EKS cluster's security group", p.Stack, sg.Name)
	}
}

func TestCache(t *testing.T) {
	for _, stack := range stacks {
		p := preview(t, stack)
		prod := stack == "prod"
		rg := one(t, p, "aws:elasticache/replicationGroup:ReplicationGroup")
		expect(t, rg, "transitEncryptionEnabled", true)
		expect(t, rg, "transitEncryptionMode", "required")
		expect(t, rg, "atRestEncryptionEnabled", true)
		expect(t, rg, "authToken", plan.Secret)
		expect(t, rg, "automaticFailoverEnabled", prod)
		expect(t, rg, "multiAzEnabled", prod)
		expect(t, rg, "nodeType", map[string]string{"prod": "cache.m7g.large", "staging": "cache.t4g.medium"}[stack])
		pg := one(t, p, "aws:elasticache/parameterGroup:ParameterGroup")
		expect(t, pg, "family", "valkey8")
		expect(t, pg, "parameters", []map[string]string{{"name": "maxmemory-policy", "value": "allkeys-lru"}})
		checkSecurityGroupFromNodesOnly(t, p, named(t, p, "aws:ec2/securityGroup:SecurityGroup", "cache"), 6379)

		token := named(t, p, "random:index/randomPassword:RandomPassword", "credentials-cache-auth-token")
		expect(t, token, "special", false)
		if l := in(token, "length").(float64); l < 16 || l > 128 {
			t.Errorf("%s: AUTH token length %v outside ElastiCache's 16..128", stack, l)
		}
	}
}

func TestSecretsManager(t *testing.T) {
	for _, stack := range stacks {
		p := preview(t, stack)
		s := named(t, p, "aws:secretsmanager/secret:Secret", "app-secrets")
		expect(t, s, "name", "stackauth/"+stack+"/app")
		if in(s, "kmsKeyId") == nil {
			t.Errorf("%s: secret not encrypted with a customer-managed key", stack)
		}
		v := named(t, p, "aws:secretsmanager/secretVersion:SecretVersion", "app-secrets")
		expect(t, v, "secretString", plan.Secret)
		for _, dep := range []string{"aws:rds/instance:Instance", "aws:elasticache/replicationGroup:ReplicationGroup"} {
			if !dependsOn(v, one(t, p, dep).URN) {
				t.Errorf("%s: secret version is not composed from the %s endpoint", stack, dep)
			}
		}
	}
}

func TestStackOutputs(t *testing.T) {
	p := preview(t, "prod")
	for _, k := range []string{"clusterName", "kubeconfig", "dbEndpoint", "cacheEndpoint", "secretArn", "apiUrl", "dashboardUrl"} {
		if _, ok := p.Outputs[k]; !ok {
			t.Errorf("stack output %s missing", k)
		}
	}
	if p.Outputs["apiUrl"] != "https://api.auth.example.com" || p.Outputs["dashboardUrl"] != "https://dashboard.auth.example.com" {
		t.Errorf("urls: %v %v", p.Outputs["apiUrl"], p.Outputs["dashboardUrl"])
	}
}

func TestProdAndStagingDifferWhereTheirConfigDoes(t *testing.T) {
	prod, staging := preview(t, "prod"), preview(t, "staging")
	for _, c := range []struct{ typ, path string }{
		{"aws:rds/instance:Instance", "instanceClass"},
		{"aws:rds/instance:Instance", "multiAz"},
		{"aws:elasticache/replicationGroup:ReplicationGroup", "numCacheClusters"},
		{"aws:eks/nodeGroup:NodeGroup", "scalingConfig.minSize"},
		{"pulumi:providers:aws", "region"},
	} {
		a, b := in(one(t, prod, c.typ), c.path), in(one(t, staging, c.typ), c.path)
		if a == b {
			t.Errorf("%s %s is %v in both prod and staging", c.typ, c.path, a)
		}
	}
}

// TestNoGeneratedSecretInClear runs the stacks as after an `up`, where the
// mocks give every random resource a recognisable value, and searches every
// input and output for it: each must have stayed a secret.
func TestNoGeneratedSecretInClear(t *testing.T) {
	const thirdParty = "THIRD-PARTY-SECRET-VALUE"
	for _, stack := range stacks {
		p := run(t, plan.Options{Stack: stack, SetSecret: map[string]string{
			"stackauth:githubClientSecret": thirdParty,
			"stackauth:stripeSecretKey":    thirdParty,
		}})
		leaks := 0
		for _, r := range p.Resources {
			walkStrings(r.Inputs, func(s string) {
				if strings.Contains(s, plan.SecretMarker) || strings.Contains(s, thirdParty) {
					t.Errorf("%s: %s %s carries a secret in clear: %.80s", stack, r.Type, r.Name, s)
					leaks++
				}
			})
		}
		walkStrings(p.Outputs, func(s string) {
			if strings.Contains(s, plan.SecretMarker) || strings.Contains(s, thirdParty) {
				t.Errorf("%s: a stack output carries a secret in clear", stack)
			}
		})
		// The search must have had something to find: the values exist.
		if rg := one(t, p, "aws:elasticache/replicationGroup:ReplicationGroup"); in(rg, "authToken") != plan.Secret {
			t.Errorf("%s: auth token is %v", stack, in(rg, "authToken"))
		}
	}
}

func TestBrokenStackFileNamesTheKeyBeforeAnyResource(t *testing.T) {
	dir := t.TempDir()
	project, err := os.ReadFile("../Pulumi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	staging, err := os.ReadFile("../Pulumi.staging.yaml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "Pulumi.yaml"), project, 0o644)
	broken := strings.Replace(string(staging), "stackauth:region: us-east-2", "stackauth:region: useast2", 1)
	os.WriteFile(filepath.Join(dir, "Pulumi.broken.yaml"), []byte(broken), 0o644)

	p, err := plan.Run(plan.Options{Stack: "broken", Dir: dir, Preview: true}, program.Define)
	if err == nil {
		t.Fatal("broken stack file was accepted")
	}
	if len(p.Resources) != 0 {
		t.Errorf("%d resources were registered before the config error", len(p.Resources))
	}
	for _, want := range []string{"stackauth:region", "useast2", "us-east-1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}

	typo := strings.Replace(string(staging), "stackauth:dbInstanceClass:", "stackauth:dbInstanceClas:", 1)
	os.WriteFile(filepath.Join(dir, "Pulumi.typo.yaml"), []byte(typo), 0o644)
	_, err = plan.Run(plan.Options{Stack: "typo", Dir: dir, Preview: true}, program.Define)
	if err == nil || !strings.Contains(err.Error(), "did you mean stackauth:dbInstanceClass") {
		t.Errorf("misspelt key: got %v", err)
	}
}
