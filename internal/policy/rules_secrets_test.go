package policy

import "github.com/stackauth-platform/infra/internal/plan"

var _ = register(
	// SEC-001
	ruleCase{"SEC-001", "generated password and AUTH token", func(b *builder) {
		pw := b.add(randomPassword, "db-password", `{"length":40}`)
		b.add(rdsInstance, "db", `{"password":"[secret]"}`, from("password", pw))
		tok := b.add(randomPassword, "cache-token", `{"length":64}`)
		b.add(cacheGroup, "cache", `{"authToken":"[secret]"}`, from("authToken", tok))
		b.add(rdsInstance, "managed", `{"manageMasterUserPassword":true}`)
	}, false},
	ruleCase{"SEC-001", "typed-in password", func(b *builder) { b.add(rdsInstance, "db", `{"password":"[secret]"}`) }, true},
	ruleCase{"SEC-001", "password from a RandomString", func(b *builder) {
		rs := b.add("random:index/randomString:RandomString", "pw", `{"length":40}`)
		b.add(rdsInstance, "db", `{"password":"[secret]"}`, from("password", rs))
	}, true},
	ruleCase{"SEC-001", "API key from a RandomString", func(b *builder) {
		rs := b.add("random:index/randomString:RandomString", "key", `{"length":40}`)
		b.add("aws:ssm/parameter:Parameter", "key", `{"apiKey":"[secret]"}`, from("apiKey", rs))
	}, true},
	// SEC-002
	ruleCase{"SEC-002", "every consumer gets a secret", func(b *builder) {
		pw := b.add(randomPassword, "db-password", `{"length":40}`)
		b.add(rdsInstance, "db", `{"password":"[secret]","username":"app"}`, from("password", pw))
		b.add("aws:secretsmanager/secretVersion:SecretVersion", "app", `{"secretString":"[secret]"}`, from("secretString", pw))
		b.add("pulumi:providers:kubernetes", "eks", `{"kubeconfig":"[secret]"}`)
		b.add("kubernetes:core/v1:Secret", "s", `{"metadata":{"name":"s"},"stringData":{"token":"[secret]"}}`)
		b.add("kubernetes:core/v1:Secret", "whole", `{"metadata":{"name":"whole"},"data":"[secret]"}`)
	}, false},
	ruleCase{"SEC-002", "generated value passed in clear", func(b *builder) {
		pw := b.add(randomPassword, "cron-secret", `{"length":48}`)
		b.add("kubernetes:batch/v1:CronJob", "cron", `{"metadata":{"name":"cron"},"spec":{"schedule":"* * * * *"}}`, from("spec", pw))
	}, true},
	ruleCase{"SEC-002", "kubeconfig in clear", func(b *builder) {
		b.add("pulumi:providers:kubernetes", "eks", `{"kubeconfig":"{\"apiVersion\":\"v1\"}"}`)
	}, true},
	ruleCase{"SEC-002", "Kubernetes Secret value in clear", func(b *builder) {
		b.add("kubernetes:core/v1:Secret", "s", `{"metadata":{"name":"s"},"stringData":{"token":"abc"}}`)
	}, true},
	// SEC-003
	ruleCase{"SEC-003", "references to Secrets only", func(b *builder) {
		b.add(helmRelease, "app", `{"chart":"grafana","repositoryOpts":{"repo":"https://grafana.github.io/helm-charts"},"version":"1.0.0","values":{
			"secretName":"app-secrets","admin":{"existingSecret":"grafana-admin","passwordKey":"admin-password","userKey":"admin-user"},
			"tokenSecretRef":{"name":"t","key":"token"},"extraEnv":{"NODE_OPTIONS":"--max-old-space-size=3072"},"serviceAccount":{"automountServiceAccountToken":false}}}`)
	}, false},
	ruleCase{"SEC-003", "a secret in values", func(b *builder) {
		b.add(helmRelease, "app", `{"chart":"charts/app","values":{"env":[{"name":"X","value":"[secret]"}]}}`)
	}, true},
	ruleCase{"SEC-003", "a literal password", func(b *builder) {
		b.add(helmRelease, "monitoring", `{"chart":"kube-prometheus-stack","values":{"grafana":{"adminPassword":"prom-operator"}}}`)
	}, true},
	ruleCase{"SEC-003", "a literal secret env var", func(b *builder) {
		b.add(helmRelease, "app", `{"chart":"charts/app","values":{"extraEnv":{"STACK_SERVER_SECRET":"abc"}}}`)
	}, true},
	ruleCase{"SEC-003", "values unknown", func(b *builder) { b.add(helmRelease, "app", `{"chart":"charts/app","values":"[unknown]"}`) }, true},
	// SEC-004
	ruleCase{"SEC-004", "kubeconfig secret, ARNs and endpoints in clear", func(b *builder) {
		b.p.Outputs = map[string]any{"kubeconfig": plan.Secret, "secretArn": "arn:aws:secretsmanager:us-east-1:1:secret:x", "dbEndpoint": "db:5432"}
	}, false},
	ruleCase{"SEC-004", "kubeconfig in clear", func(b *builder) { b.p.Outputs = map[string]any{"kubeconfig": `{"apiVersion":"v1"}`} }, true},
	ruleCase{"SEC-004", "admin token in clear", func(b *builder) { b.p.Outputs = map[string]any{"adminToken": "abc"} }, true},
	// SEC-005
	ruleCase{"SEC-005", "secrets stay marked", func(b *builder) {
		b.add(rdsInstance, "db", `{"password":"[secret]"}`)
		b.p.Outputs = map[string]any{"kubeconfig": plan.Secret}
	}, false},
	ruleCase{"SEC-005", "generated value in an input", func(b *builder) {
		b.add("kubernetes:apps/v1:Deployment", "api", `{"spec":{"template":{"spec":{"containers":[{"env":[{"name":"X","value":"`+plan.SecretMarker+`cron"}]}]}}}}`)
	}, true},
	ruleCase{"SEC-005", "generated value in an output", func(b *builder) {
		b.p.Outputs = map[string]any{"connection": "postgresql://app:" + plan.SecretMarker + "db@host/db"}
	}, true},
)
