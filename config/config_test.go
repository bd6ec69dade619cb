package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// mapSource is config as the engine would pass it: full keys, raw strings.
type mapSource struct {
	values  map[string]string
	secrets map[string]bool
}

func (m mapSource) Get(key string) (string, bool) { v, ok := m.values[key]; return v, ok }
func (m mapSource) IsSecret(key string) bool      { return m.secrets[key] }

// projectFile is Pulumi.yaml, decoded strictly so a misspelt schema field fails.
type projectFile struct {
	Name        string `json:"name"`
	Runtime     string `json:"runtime"`
	Description string `json:"description"`
	Config      map[string]struct {
		Type        string `json:"type"`
		Description string `json:"description"`
		Default     any    `json:"default"`
		Secret      bool   `json:"secret"`
		Items       *struct {
			Type string `json:"type"`
		} `json:"items"`
	} `json:"config"`
}

func readProject(t *testing.T) projectFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "Pulumi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var p projectFile
	if err := yaml.UnmarshalStrict(b, &p); err != nil {
		t.Fatalf("Pulumi.yaml: %v", err)
	}
	return p
}

// stackValues merges Pulumi.yaml defaults with a stack file, as the CLI does.
func stackValues(t *testing.T, stack string) map[string]string {
	t.Helper()
	values := map[string]string{}
	for k, v := range readProject(t).Config {
		if v.Default != nil {
			values[FullKey(k)] = flatten(t, v.Default)
		}
	}
	b, err := os.ReadFile(filepath.Join("..", "Pulumi."+stack+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Config map[string]any `json:"config"`
	}
	if err := yaml.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	for k, v := range file.Config {
		values[k] = flatten(t, v)
	}
	return values
}

func flatten(t *testing.T, v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(j))
}

func TestSchemaAndPulumiYAMLDeclareTheSameKeys(t *testing.T) {
	project := readProject(t)
	if project.Name != Namespace || project.Runtime != "go" {
		t.Errorf("Pulumi.yaml: name %q runtime %q, want %q and go", project.Name, project.Runtime, Namespace)
	}
	seen := map[string]bool{}
	for _, f := range Fields {
		if seen[f.Key] {
			t.Errorf("%s is declared twice in Fields", f.Key)
		}
		seen[f.Key] = true
		decl, ok := project.Config[f.Key]
		if !ok {
			t.Errorf("%s is read by the program but not declared in Pulumi.yaml", f.Key)
			continue
		}
		if decl.Type != f.Type {
			t.Errorf("%s: Pulumi.yaml says type %s, the program parses %s", f.Key, decl.Type, f.Type)
		}
		if strings.TrimSpace(decl.Description) == "" {
			t.Errorf("%s has no description in Pulumi.yaml", f.Key)
		}
		if decl.Secret != f.Secret {
			t.Errorf("%s: Pulumi.yaml secret=%v, the program secret=%v", f.Key, decl.Secret, f.Secret)
		}
		if f.Type == "array" && (decl.Items == nil || decl.Items.Type != "string") {
			t.Errorf("%s: Pulumi.yaml must declare items of type string", f.Key)
		}
		if f.Optional && decl.Default != nil {
			t.Errorf("%s is optional in the program but has a default in Pulumi.yaml", f.Key)
		}
	}
	for k := range project.Config {
		if !seen[k] {
			t.Errorf("Pulumi.yaml declares %s, which the program never reads", k)
		}
	}
}

func TestRealStacksParse(t *testing.T) {
	for _, stack := range []string{"prod", "staging"} {
		s, err := Parse(stack, mapSource{values: stackValues(t, stack)})
		if err != nil {
			t.Fatalf("%s: %v", stack, err)
		}
		if s.App.ImageRepository != "stackauth/server" || s.App.ImageTag != "2.8.39" {
			t.Errorf("%s: image %s:%s, want stackauth/server:2.8.39", stack, s.App.ImageRepository, s.App.ImageTag)
		}
		if s.APIHost != "api."+s.Domain || s.DashboardHost != "dashboard."+s.Domain {
			t.Errorf("%s: hosts %s, %s not derived from domain %s", stack, s.APIHost, s.DashboardHost, s.Domain)
		}
	}
	prod, _ := Parse("prod", mapSource{values: stackValues(t, "prod")})
	if !prod.Production || prod.App.MinReplicas != 5 || prod.App.MaxReplicas != 50 || prod.Cluster.NodeMinSize < 5 {
		t.Errorf("prod: production=%v replicas %d..%d nodes>=%d; want the guide's 5..50 on at least 5 nodes",
			prod.Production, prod.App.MinReplicas, prod.App.MaxReplicas, prod.Cluster.NodeMinSize)
	}
}

func TestInvalidValuesNameTheKey(t *testing.T) {
	cases := []struct {
		name, key, value string
		want             []string
	}{
		{"region format", "region", "us-east", []string{"stackauth:region", "us-east-1"}},
		{"region case", "region", "US-EAST-1", []string{"stackauth:region"}},
		{"min above max", "apiMinReplicas", "60", []string{"stackauth:apiMinReplicas", "stackauth:apiMaxReplicas"}},
		{"storage below 20", "dbAllocatedStorageGb", "10", []string{"stackauth:dbAllocatedStorageGb", "20..65536"}},
		{"email", "acmeEmail", "ops-at-example.com", []string{"stackauth:acmeEmail", "email address"}},
		{"email with name", "acmeEmail", "Ops <ops@example.com>", []string{"stackauth:acmeEmail"}},
		{"domain", "domain", "auth_example.com", []string{"stackauth:domain", "DNS name"}},
		{"domain without dot", "domain", "localhost", []string{"stackauth:domain"}},
		{"not a number", "nodeMinSize", "five", []string{"stackauth:nodeMinSize", "whole number"}},
		{"not a bool", "dbMultiAz", "yes please", []string{"stackauth:dbMultiAz", "true or false"}},
		{"latest tag", "imageTag", "latest", []string{"stackauth:imageTag", "never latest"}},
		{"old kubernetes", "kubernetesVersion", "1.29", []string{"stackauth:kubernetesVersion", "1.35"}},
		{"open EKS API", "clusterPublicAccessCidrs", `["0.0.0.0/0"]`, []string{"stackauth:clusterPublicAccessCidrs", "internet"}},
		{"internet in halves", "clusterPublicAccessCidrs", `["0.0.0.0/1","128.0.0.0/1"]`, []string{"stackauth:clusterPublicAccessCidrs", "/8"}},
		{"wide IPv6", "clusterPublicAccessCidrs", `["2000::/3"]`, []string{"stackauth:clusterPublicAccessCidrs"}},
		{"prod single API pod", "apiMinReplicas", "1", []string{"stackauth:apiMinReplicas", "at least 2"}},
		{"bad CIDR", "clusterPublicAccessCidrs", `["10.0.0.0/33"]`, []string{"stackauth:clusterPublicAccessCidrs", "CIDR"}},
		{"small cache", "cacheNodeType", "cache.t4g.small", []string{"stackauth:cacheNodeType", "3 GB"}},
		{"prod without multi-AZ", "dbMultiAz", "false", []string{"stackauth:dbMultiAz", "production"}},
		{"prod short backups", "dbBackupRetentionDays", "3", []string{"stackauth:dbBackupRetentionDays", "7"}},
		{"prod few nodes", "nodeMinSize", "3", []string{"stackauth:nodeMinSize", "5"}},
		{"request above limit", "apiMemoryRequest", "8Gi", []string{"stackauth:apiMemoryRequest", "stackauth:apiMemoryLimit"}},
		{"bad quantity", "apiCpuLimit", "two cores", []string{"stackauth:apiCpuLimit", "quantity"}},
		{"bad role", "ciRoleArn", "arn:aws:iam::12:role/x", []string{"stackauth:ciRoleArn"}},
		{"unknown cloud", "cloud", "gcp", []string{"stackauth:cloud", "aws, local"}},
		{"redis 8", "cacheEngineVersion", "8.0", []string{"stackauth:cacheEngineVersion", "7.1"}},
		{"vpc too large", "vpcCidr", "10.0.0.0/8", []string{"stackauth:vpcCidr", "/16 to /20"}},
		{"vpc host bits", "vpcCidr", "10.30.5.7/16", []string{"stackauth:vpcCidr", "10.30.0.0/16"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			values := stackValues(t, "prod")
			if c.key == "cacheEngineVersion" {
				values[FullKey("cacheEngine")] = "redis"
			}
			values[FullKey(c.key)] = c.value
			_, err := Parse("prod", mapSource{values: values})
			if err == nil {
				t.Fatalf("%s=%q was accepted", c.key, c.value)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestMissingRequiredKeyIsNamed(t *testing.T) {
	values := stackValues(t, "staging")
	delete(values, FullKey("domain"))
	_, err := Parse("staging", mapSource{values: values})
	if err == nil || !strings.Contains(err.Error(), "stackauth:domain: missing") {
		t.Fatalf("got %v, want stackauth:domain named as missing", err)
	}
}

func TestSecretSetInClearIsRefused(t *testing.T) {
	values := stackValues(t, "staging")
	values[FullKey("stripeSecretKey")] = "sk_live_x"
	_, err := Parse("staging", mapSource{values: values})
	if err == nil || !strings.Contains(err.Error(), "pulumi config set --secret stripeSecretKey") {
		t.Fatalf("got %v, want the clear secret refused with the fix", err)
	}
	s, err := Parse("staging", mapSource{values: values, secrets: map[string]bool{FullKey("stripeSecretKey"): true}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Secrets["STACK_STRIPE_SECRET_KEY"]; !ok {
		t.Errorf("secret not mapped to STACK_STRIPE_SECRET_KEY: %v", s.Secrets)
	}
}

func TestMisspeltNamespaceIsRefused(t *testing.T) {
	err := CheckKeys("staging", []string{"stackauht:region", "aws:region", "pulumi:tags"})
	if err == nil || !strings.Contains(err.Error(), "did you mean stackauth:region") {
		t.Fatalf("got %v", err)
	}
}

func TestUnknownKeySuggestsTheNearestOne(t *testing.T) {
	err := CheckKeys("prod", []string{"stackauth:dbInstanceClas", "stackauth:region", "aws:region"})
	if err == nil || !strings.Contains(err.Error(), "did you mean stackauth:dbInstanceClass") {
		t.Fatalf("got %v", err)
	}
	if strings.Contains(err.Error(), "aws:region") || strings.Contains(err.Error(), "stackauth:region:") {
		t.Errorf("known or foreign keys reported: %v", err)
	}
}

func TestREADMEConfigReferenceListsEveryKey(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	section := readme[strings.Index(readme, "## Configuration reference"):]
	for k := range readProject(t).Config {
		if !strings.Contains(section, "| `"+k+"` |") {
			t.Errorf("README's configuration reference has no row for %s", k)
		}
	}
}
