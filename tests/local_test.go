package tests

import (
	"strings"
	"testing"

	"github.com/stackauth-platform/infra/internal/plan"
	"github.com/stackauth-platform/infra/program"
)

func TestLocalStackHasNoAWSAndRunsItsOwnStores(t *testing.T) {
	p := preview(t, "local")
	for _, r := range p.Resources {
		if strings.HasPrefix(r.Type, "aws:") || r.Type == "pulumi:providers:aws" {
			t.Errorf("local stack registers %s %s", r.Type, r.Name)
		}
	}
	for _, name := range []string{"data-postgres", "data-redis"} {
		sts := named(t, p, "kubernetes:apps/v1:StatefulSet", name)
		expect(t, sts, "metadata.namespace", "stack-auth-local")
		expect(t, sts, "spec.template.spec.securityContext.runAsNonRoot", true)
		expect(t, sts, "spec.template.spec.containers.0.securityContext.readOnlyRootFilesystem", true)
		if in(sts, "spec.template.spec.containers.0.readinessProbe.exec.command") == nil {
			t.Errorf("%s has no readiness probe", name)
		}
		if in(sts, "spec.template.spec.containers.0.resources.limits.memory") == nil {
			t.Errorf("%s has no memory limit", name)
		}
		// The cluster's default StorageClass: no class named.
		if in(sts, "spec.volumeClaimTemplates.0.spec.storageClassName") != nil {
			t.Errorf("%s names a StorageClass", name)
		}
		if img := in(sts, "spec.template.spec.containers.0.image").(string); strings.Contains(img, "bitnami") || !strings.Contains(img, ":") {
			t.Errorf("%s image %s: want an official image, pinned", name, img)
		}
	}

	// The Secret the chart and the gateway read, written by the program: every value a Pulumi secret.
	secret := named(t, p, "kubernetes:core/v1:Secret", "app-secrets")
	expect(t, secret, "metadata.name", "stack-backend-secrets")
	expect(t, secret, "stringData", plan.Secret)
	expect(t, named(t, p, "kubernetes:core/v1:Secret", "data-passwords"), "stringData", plan.Secret)
	// Looked at with secrets revealed, it holds the env the chart and the gateway read, pointing at the stores.
	revealed := run(t, plan.Options{Stack: "local", RevealSecrets: true})
	data, _ := in(named(t, revealed, "kubernetes:core/v1:Secret", "app-secrets"), "stringData").(map[string]any)
	for _, key := range []string{"STACK_SERVER_SECRET", "CRON_SECRET", "STACK_SEED_INTERNAL_PROJECT_PUBLISHABLE_CLIENT_KEY"} {
		if s, _ := data[key].(string); s == "" {
			t.Errorf("stack-backend-secrets has no %s", key)
		}
	}
	if db, _ := data["STACK_DATABASE_CONNECTION_STRING"].(string); !strings.HasPrefix(db, "postgresql://stackauth:") || !strings.Contains(db, "@postgres.stack-auth-local.svc:5432/stackauth?") {
		t.Errorf("database connection string %q does not point at the in-cluster PostgreSQL", db)
	}
	if r, _ := data["REDIS_URL"].(string); !strings.HasPrefix(r, "redis://:") || !strings.HasSuffix(r, "@redis.stack-auth-local.svc:6379") {
		t.Errorf("REDIS_URL %q does not point at the in-cluster Redis", r)
	}

	issuer := one(t, p, "kubernetes:cert-manager.io/v1:ClusterIssuer")
	if in(issuer, "spec.selfSigned") == nil {
		t.Errorf("local issuer is not self-signed: %v", issuer.Inputs["spec"])
	}
	if len(p.ByType("kubernetes:helm.sh/v3:Release")) == 0 || len(p.ByType("kubernetes:monitoring.coreos.com/v1:ServiceMonitor")) != 0 {
		t.Errorf("want the releases but no monitoring on the local stack")
	}
	if p.Outputs["apiUrl"] != "https://api.localtest.me" {
		t.Errorf("apiUrl %v", p.Outputs["apiUrl"])
	}
}

// TestLocalAndAWSShareTheComponents checks the local stack runs the very
// components AWS stacks run, not copies: the same component types, one each.
func TestLocalAndAWSShareTheComponents(t *testing.T) {
	local, prod := preview(t, "local"), preview(t, "staging")
	for _, typ := range []string{"stackauth:app:Release", "stackauth:gateway:RateLimitGateway", "stackauth:edge:Gateway",
		"stackauth:edge:Controller", "stackauth:tls:CertManager", "stackauth:secrets:Credentials"} {
		if len(local.ByType(typ)) != 1 || len(prod.ByType(typ)) != 1 {
			t.Errorf("%s: %d on local, %d on staging; want the one shared component on both", typ, len(local.ByType(typ)), len(prod.ByType(typ)))
		}
	}
	lr := named(t, local, "kubernetes:helm.sh/v3:Release", "stack-auth")
	pr := named(t, prod, "kubernetes:helm.sh/v3:Release", "stack-auth")
	if in(lr, "chart") != in(pr, "chart") {
		t.Errorf("local chart %v, staging chart %v", in(lr, "chart"), in(pr, "chart"))
	}
	gw := named(t, local, "kubernetes:apps/v1:Deployment", "ratelimit-gateway")
	expect(t, gw, "spec.template.spec.containers.0.image", "localhost:5001/stackauth/ratelimit:dev")
}

func TestLocalStackWithoutGatewayImageIsRefused(t *testing.T) {
	_, err := plan.Run(plan.Options{Stack: "local", Dir: "..", Preview: true, Set: map[string]string{"stackauth:gatewayImage": ""}}, program.Define)
	if err == nil || !strings.Contains(err.Error(), "stackauth:gatewayImage") || !strings.Contains(err.Error(), "cmd/image") {
		t.Fatalf("got %v, want stackauth:gatewayImage named with how to build one", err)
	}
}
