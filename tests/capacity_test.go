package tests

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stackauth-platform/infra/internal/plan"
	"github.com/stackauth-platform/infra/program"
)

const (
	proxyType       = "aws:rds/proxy:Proxy"
	targetGroupType = "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup"
	proxyTargetType = "aws:rds/proxyTarget:ProxyTarget"
	sgType          = "aws:ec2/securityGroup:SecurityGroup"
)

// computedFrom says whether an input was computed from the resource with that URN.
func computedFrom(r plan.Resource, input, urn string) bool {
	return slices.Contains(r.PropertyDependencies[input], urn)
}

func TestProdPutsRDSProxyInFrontOfTheInstance(t *testing.T) {
	p := preview(t, "prod")
	proxy := one(t, p, proxyType)
	expect(t, proxy, "engineFamily", "POSTGRESQL")
	expect(t, proxy, "requireTls", true)
	expect(t, proxy, "name", "stackauth-prod")
	expect(t, proxy, "auths.0.authScheme", "SECRETS")
	expect(t, proxy, "auths.0.iamAuth", "DISABLED")
	expect(t, proxy, "auths.0.clientPasswordAuthType", "POSTGRES_SCRAM_SHA_256")

	// Its own secret, under its own key, readable by its own role.
	secret := named(t, p, "aws:secretsmanager/secret:Secret", "database-proxy")
	key := named(t, p, "aws:kms/key:Key", "database-proxy")
	role := named(t, p, "aws:iam/role:Role", "database-proxy")
	if !computedFrom(proxy, "auths", secret.URN) || !computedFrom(proxy, "roleArn", role.URN) {
		t.Errorf("proxy auth from %v and role from %v, want the proxy's own secret and role",
			proxy.PropertyDependencies["auths"], proxy.PropertyDependencies["roleArn"])
	}
	if !computedFrom(secret, "kmsKeyId", key.URN) {
		t.Errorf("proxy secret encrypted with %v, want its own key", secret.PropertyDependencies["kmsKeyId"])
	}
	expect(t, named(t, p, "aws:secretsmanager/secretVersion:SecretVersion", "database-proxy"), "secretString", plan.Secret)

	// In the private subnets, behind a group that admits the nodes only and reaches only the instance.
	for _, subnet := range p.ByType("aws:ec2/subnet:Subnet") {
		private := in(subnet, "tags.kubernetes.io/role/internal-elb") == "1"
		if computedFrom(proxy, "vpcSubnetIds", subnet.URN) != private {
			t.Errorf("proxy subnets %v: subnet %s (private %v) wrongly in or out", proxy.PropertyDependencies["vpcSubnetIds"],
				subnet.Name, private)
		}
	}
	proxySG := named(t, p, sgType, "database-proxy")
	dbSG := named(t, p, sgType, "database")
	if !computedFrom(proxy, "vpcSecurityGroupIds", proxySG.URN) {
		t.Errorf("proxy security groups from %v, want database-proxy", proxy.PropertyDependencies["vpcSecurityGroupIds"])
	}
	checkSecurityGroupFromNodesOnly(t, p, proxySG, 5432)
	egress := named(t, p, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "database-proxy-to-instance")
	expect(t, egress, "fromPort", 5432)
	expect(t, egress, "toPort", 5432)
	expect(t, egress, "ipProtocol", "tcp")
	if !computedFrom(egress, "securityGroupId", proxySG.URN) || !computedFrom(egress, "referencedSecurityGroupId", dbSG.URN) {
		t.Errorf("egress rule %v -> %v, want database-proxy -> database", egress.PropertyDependencies["securityGroupId"],
			egress.PropertyDependencies["referencedSecurityGroupId"])
	}
	if in(egress, "cidrIpv4") != nil {
		t.Errorf("proxy egress opens a CIDR: %v", in(egress, "cidrIpv4"))
	}
	if !computedFrom(dbSG, "ingress", proxySG.URN) {
		t.Error("the instance's security group does not admit the proxy's")
	}

	// The pool and the target: the instance, through the default target group.
	group := one(t, p, targetGroupType)
	expect(t, group, "connectionPoolConfig.maxConnectionsPercent", 90)
	expect(t, group, "connectionPoolConfig.maxIdleConnectionsPercent", 45)
	expect(t, group, "connectionPoolConfig.connectionBorrowTimeout", 10)
	target := one(t, p, proxyTargetType)
	instance := one(t, p, "aws:rds/instance:Instance")
	if !computedFrom(target, "dbInstanceIdentifier", instance.URN) || !computedFrom(target, "targetGroupName", group.URN) ||
		!computedFrom(target, "dbProxyName", proxy.URN) {
		t.Errorf("proxy target inputs from %v, want the instance, the default target group and the proxy", target.PropertyDependencies)
	}
}

func TestProxyRoleReadsOnlyItsSecret(t *testing.T) {
	p := run(t, plan.Options{Stack: "prod"})
	role := named(t, p, "aws:iam/role:Role", "database-proxy")
	trust := jsonInput(t, role, "assumeRolePolicy")["Statement"].([]any)[0].(map[string]any)
	if principal := trust["Principal"].(map[string]any)["Service"]; principal != "rds.amazonaws.com" {
		t.Errorf("proxy role trusts %v", principal)
	}
	secretARN := "arn:aws:secretsmanager:us-east-1:123456789012:secret/database-proxy"
	keyARN := "arn:aws:kms:us-east-1:123456789012:key/database-proxy"
	statements := jsonInput(t, named(t, p, "aws:iam/rolePolicy:RolePolicy", "database-proxy"), "policy")["Statement"].([]any)
	if len(statements) != 2 {
		t.Fatalf("proxy policy has %d statements: %v", len(statements), statements)
	}
	for i, want := range []struct{ action, resource string }{
		{"secretsmanager:GetSecretValue", secretARN},
		{"kms:Decrypt", keyARN},
	} {
		s := statements[i].(map[string]any)
		if got := s["Action"].([]any); len(got) != 1 || got[0] != want.action {
			t.Errorf("statement %d actions %v, want only %s", i, got, want.action)
		}
		if got := s["Resource"].([]any); len(got) != 1 || got[0] != want.resource {
			t.Errorf("statement %d resources %v, want only %s", i, got, want.resource)
		}
	}
	via := statements[1].(map[string]any)["Condition"].(map[string]any)["StringEquals"].(map[string]any)["kms:ViaService"]
	if via != "secretsmanager.us-east-1.amazonaws.com" {
		t.Errorf("kms:Decrypt via %v, want Secrets Manager in the stack's region", via)
	}
}

// appEnvironment is the JSON the stack's Secrets Manager secret holds, read from a plan whose secrets are revealed.
func appEnvironment(t *testing.T, stack string) (map[string]string, *plan.Plan) {
	t.Helper()
	p := run(t, plan.Options{Stack: stack, RevealSecrets: true})
	var env map[string]string
	version := named(t, p, "aws:secretsmanager/secretVersion:SecretVersion", "app-secrets")
	if err := json.Unmarshal([]byte(in(version, "secretString").(string)), &env); err != nil {
		t.Fatalf("%s: app secret: %v", stack, err)
	}
	return env, p
}

func parseURL(t *testing.T, env map[string]string, key string) *url.URL {
	t.Helper()
	u, err := url.Parse(env[key])
	if err != nil || u.Scheme != "postgresql" {
		t.Fatalf("%s = %q is not a postgresql URL (%v)", key, env[key], err)
	}
	return u
}

func TestAppConnectsThroughTheProxyWithThePoolSettings(t *testing.T) {
	for _, c := range []struct {
		stack, appHost string
	}{
		{"prod", "database-proxy.proxy-mock.rds.amazonaws.com:5432"},
		{"staging", "database.mock.rds.amazonaws.com:5432"},
	} {
		env, p := appEnvironment(t, c.stack)
		app := parseURL(t, env, "STACK_DATABASE_CONNECTION_STRING")
		direct := parseURL(t, env, "STACK_DIRECT_DATABASE_CONNECTION_STRING")
		if app.Host != c.appHost {
			t.Errorf("%s: the pods connect to %s, want %s", c.stack, app.Host, c.appHost)
		}
		if direct.Host != "database.mock.rds.amazonaws.com:5432" {
			t.Errorf("%s: the direct connection string goes to %s, want the instance", c.stack, direct.Host)
		}
		want := url.Values{"sslmode": {"require"}, "connection_limit": {"20"}, "pool_timeout": {"10"}}
		for _, u := range []*url.URL{app, direct} {
			if got := u.Query(); got.Encode() != want.Encode() {
				t.Errorf("%s: %s query %v, want %v", c.stack, u.Host, got, want)
			}
			if password, _ := u.User.Password(); u.User.Username() != "stackauth" || password != plan.SecretMarker+"credentials-db-password" {
				t.Errorf("%s: %s logs in as %v", c.stack, u.Host, u.User)
			}
		}
		if c.stack == "staging" {
			if len(p.ByType(proxyType)) != 0 || len(p.ByType(proxyTargetType)) != 0 {
				t.Errorf("staging has an RDS Proxy; its stack file leaves stackauth:dbProxy off")
			}
			continue
		}
		// The proxy checks clients against the same login it uses for the instance.
		var login map[string]string
		version := named(t, p, "aws:secretsmanager/secretVersion:SecretVersion", "database-proxy")
		if err := json.Unmarshal([]byte(in(version, "secretString").(string)), &login); err != nil {
			t.Fatal(err)
		}
		if password, _ := app.User.Password(); login["username"] != app.User.Username() || login["password"] != password || len(login) != 2 {
			t.Errorf("proxy secret %v does not hold the app's login", login)
		}
	}
}

func TestPlanRefusesTheGuideNumbersWithoutProxy(t *testing.T) {
	p, err := plan.Run(plan.Options{Stack: "prod", Dir: "..", Set: map[string]string{"stackauth:dbProxy": "false"}}, program.Define)
	if err == nil {
		t.Fatal("prod without RDS Proxy (50 replicas x 20 connections, max_connections 500) was planned")
	}
	for _, want := range []string{"stackauth:apiMaxReplicas 50", "stackauth:dbPoolSize 20", "stackauth:dbMaxConnections: 500"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q: %v", want, err)
		}
	}
	if len(p.Resources) != 0 {
		t.Errorf("%d resources registered before the config was refused", len(p.Resources))
	}
}

func TestStackAuthCarriesTheNodeHeap(t *testing.T) {
	for stack, want := range map[string]string{"prod": "--max-old-space-size=1536", "staging": "--max-old-space-size=768"} {
		expect(t, named(t, preview(t, stack), "kubernetes:helm.sh/v3:Release", "stack-auth"), "values.extraEnv.NODE_OPTIONS", want)
	}
}

// gatewayInFlight is the MAX_CONCURRENT_REQUESTS the gateway's pods get.
func gatewayInFlight(t *testing.T, p *plan.Plan) any {
	t.Helper()
	gateway := named(t, p, "kubernetes:apps/v1:Deployment", "ratelimit-gateway")
	for _, e := range in(gateway, "spec.template.spec.containers.0.env").([]any) {
		if env := e.(map[string]any); env["name"] == "MAX_CONCURRENT_REQUESTS" {
			return env["value"]
		}
	}
	return nil
}

func TestGatewayGetsItsInFlightLimit(t *testing.T) {
	for _, stack := range stacks {
		if got := gatewayInFlight(t, preview(t, stack)); got != "1000" {
			t.Errorf("%s: gateway MAX_CONCURRENT_REQUESTS = %v, want the guide's 1000", stack, got)
		}
	}
	p := run(t, plan.Options{Stack: "prod", Preview: true, Set: map[string]string{"stackauth:gatewayMaxConcurrentRequests": "250"}})
	if got := gatewayInFlight(t, p); got != "250" {
		t.Errorf("with stackauth:gatewayMaxConcurrentRequests 250 the gateway gets %v", got)
	}
}
