package stackauth

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

func TestArgsValidationNamesFieldAndFix(t *testing.T) {
	cases := []struct {
		what   string
		modify func(a *Args)
		want   []string
	}{
		{"latest tag", func(a *Args) { a.Image.Tag = "latest" }, []string{"args.Image.Tag", "pin a Stack Auth version"}},
		{"empty tag", func(a *Args) { a.Image.Tag = "" }, []string{"args.Image.Tag is empty"}},
		{"tag with digest", func(a *Args) { a.Image.Tag = "2.8.39@sha256:abc" }, []string{"args.Image.Tag", "bare tag"}},
		{"repository with tag", func(a *Args) { a.Image.Repository = "stackauth/server:" }, []string{"args.Image.Repository"}},
		{"no namespace", func(a *Args) { a.Namespace = "" }, []string{"args.Namespace"}},
		{"URL instead of host", func(a *Args) { a.APIHost = "https://api.example.com" }, []string{"args.APIHost", "without scheme"}},
		{"same host twice", func(a *Args) { a.DashboardHost = a.APIHost }, []string{"args.APIHost and args.DashboardHost"}},
		{"min above max", func(a *Args) { a.Replicas = ReplicaBounds{Min: 5, Max: 2} }, []string{"args.Replicas", "1 <= Min <= Max"}},
		{"zero replicas", func(a *Args) { a.Replicas = ReplicaBounds{} }, []string{"args.Replicas"}},
		{"bad quantity", func(a *Args) { a.Resources.Limits.Memory = "8 GB" }, []string{"args.Resources.Limits.Memory", "2Gi"}},
		{"missing quantity", func(a *Args) { a.Resources.Requests.CPU = "" }, []string{"args.Resources.Requests.CPU"}},
		{"request above limit", func(a *Args) { a.Resources.Requests.Memory = "16Gi" }, []string{"args.Resources.Requests.Memory 16Gi is above Limits.Memory 8Gi"}},
		{"secret in extra env", func(a *Args) { a.ExtraEnv = map[string]string{"STACK_EMAIL_PASSWORD": "hunter2"} }, []string{"args.ExtraEnv sets STACK_EMAIL_PASSWORD", "looks secret", "Secrets Manager"}},
		{"reserved extra env", func(a *Args) { a.ExtraEnv = map[string]string{"STACK_SKIP_MIGRATIONS": "false"} }, []string{"args.ExtraEnv sets STACK_SKIP_MIGRATIONS", "sets itself"}},
		{"bad env name", func(a *Args) { a.ExtraEnv = map[string]string{"NODE-OPTIONS": "x"} }, []string{"args.ExtraEnv key \"NODE-OPTIONS\""}},
		{"no gateway labels", func(a *Args) { a.GatewayPodLabels = nil }, []string{"args.GatewayPodLabels is empty"}},
		{"bad gateway label", func(a *Args) { a.GatewayPodLabels = map[string]string{"app": "rate limit"} }, []string{"args.GatewayPodLabels[\"app\"]"}},
		{"no edge namespace", func(a *Args) { a.EdgeNamespace = "" }, []string{"args.EdgeNamespace"}},
		{"no database CIDRs", func(a *Args) { a.DatabaseCIDRs = nil }, []string{"args.DatabaseCIDRs is empty"}},
		{"bad CIDR", func(a *Args) { a.DatabaseCIDRs = []string{"10.0.0.0"} }, []string{"args.DatabaseCIDRs has \"10.0.0.0\""}},
		{"bad port", func(a *Args) { a.DatabasePort = 70000 }, []string{"args.DatabasePort 70000"}},
		{"short timeout", func(a *Args) { a.TimeoutSeconds = 60 }, []string{"args.TimeoutSeconds 60"}},
		{"no history", func(a *Args) { a.HistoryMax = 1 }, []string{"args.HistoryMax 1"}},
		{"long release name", func(a *Args) { a.ReleaseName = strings.Repeat("a", 41) }, []string{"args.ReleaseName"}},
	}
	for _, c := range cases {
		a := prodArgs()
		c.modify(&a)
		values, err := ChartValues(a)
		if err == nil {
			t.Errorf("%s: accepted, values %v", c.what, values)
			continue
		}
		for _, want := range c.want {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not contain %q", c.what, err, want)
			}
		}
	}

	// Every problem is reported in one go, not one per run.
	a := prodArgs()
	a.Image.Tag, a.DatabaseCIDRs, a.Replicas = "latest", nil, ReplicaBounds{Min: 3, Max: 1}
	_, err := ChartValues(a)
	if err == nil || strings.Count(err.Error(), "stackauth: ") != 3 {
		t.Errorf("want three errors at once, got %v", err)
	}
}

func TestDefaultsFillOptionalArgs(t *testing.T) {
	values, err := ChartValues(prodArgs())
	if err != nil {
		t.Fatal(err)
	}
	if values["fullnameOverride"] != DefaultReleaseName || values["secretName"] != DefaultSecretName {
		t.Errorf("defaults not applied: fullnameOverride %v secretName %v", values["fullnameOverride"], values["secretName"])
	}
	db := values["networkPolicy"].(map[string]any)["database"].(map[string]any)
	if db["port"] != DefaultDatabasePort {
		t.Errorf("database port %v, want %d", db["port"], DefaultDatabasePort)
	}
	if got := values["migrations"].(map[string]any)["activeDeadlineSeconds"]; got != DefaultTimeoutSeconds-migrationSlackSeconds {
		t.Errorf("migration deadline %v", got)
	}
}

// urlWithCredentials matches URLs that carry a user and password, such as a Postgres connection string.
var urlWithCredentials = regexp.MustCompile(`://[^/\s@]+:[^/\s@]+@`)

// secretFindings lists the keys that look secret and the string values that carry credentials, with their paths.
func secretFindings(path string, v any) []string {
	var found []string
	switch x := v.(type) {
	case map[string]any:
		for k, child := range x {
			if LooksSecret(k) {
				found = append(found, path+"."+k)
			}
			found = append(found, secretFindings(path+"."+k, child)...)
		}
	case []any:
		for i, child := range x {
			found = append(found, secretFindings(fmt.Sprintf("%s[%d]", path, i), child)...)
		}
	case string:
		if urlWithCredentials.MatchString(x) {
			found = append(found, path+" (URL with credentials)")
		}
	}
	return found
}

func TestValuesHoldNoSecrets(t *testing.T) {
	for name, args := range map[string]Args{"prod": prodArgs(), "staging": stagingArgs()} {
		values, err := ChartValues(args)
		if err != nil {
			t.Fatal(err)
		}
		if found := secretFindings("values", values); len(found) > 0 {
			t.Errorf("%s values hold secret-looking entries: %v", name, found)
		}
	}

	// The detector itself finds what it is meant to find.
	planted := map[string]any{
		"extraEnv": map[string]any{"STACK_SERVER_SECRET": "x"},
		"db":       []any{"postgres://stack:pw@db.internal:5432/stack"},
	}
	if found := secretFindings("values", planted); len(found) != 2 {
		t.Errorf("planted a secret key and a credential URL, detector found %v", found)
	}
}

func TestLooksSecretCoversStackAuthSecretEnv(t *testing.T) {
	// Secret env the image reads (field notes) and the seed guide's names for them.
	for _, name := range []string{
		"STACK_DATABASE_CONNECTION_STRING", "STACK_SERVER_SECRET", "CRON_SECRET",
		"STACK_SEED_INTERNAL_PROJECT_PUBLISHABLE_CLIENT_KEY", "STACK_SEED_INTERNAL_PROJECT_SECRET_SERVER_KEY",
		"STACK_SEED_INTERNAL_PROJECT_SUPER_SECRET_ADMIN_KEY", "STACK_EMAIL_PASSWORD", "STACK_GITHUB_CLIENT_SECRET",
		"STACK_SVIX_API_KEY", "DATABASE_URL", "JWT_SECRET", "SENTRY_DSN", "RESEND_API_KEY", "STRIPE_SECRET_KEY",
	} {
		if !LooksSecret(name) {
			t.Errorf("LooksSecret(%q) = false", name)
		}
	}
	for _, name := range []string{"NODE_OPTIONS", "STACK_EMAIL_HOST", "STACK_EMAIL_PORT", "STACK_GITHUB_CLIENT_ID",
		"OTEL_EXPORTER_OTLP_ENDPOINT", "secretName", "podLabels", "minReplicas"} {
		if LooksSecret(name) {
			t.Errorf("LooksSecret(%q) = true", name)
		}
	}
}
