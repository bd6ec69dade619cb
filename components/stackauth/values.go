// Package stackauth releases Stack Auth on the cluster: the repo's charts/stack-backend chart as a Helm release
// whose values are computed from typed args. Secrets never pass through here; the pods read them from the Secret
// that External Secrets keeps in sync.
package stackauth

import (
	"errors"
	"fmt"
	"github.com/stackauth-platform/infra/components/k8sbase"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Ports the stackauth/server image listens on.
const (
	APIPort       = 8102
	DashboardPort = 8101
)

// Defaults for optional args.
const (
	DefaultReleaseName    = "stack-backend"
	DefaultChartDir       = "charts/stack-backend"
	DefaultImage          = "stackauth/server"
	DefaultSecretName     = "stack-backend-secrets"
	DefaultDatabasePort   = 5432
	DefaultTimeoutSeconds = 900
	DefaultHistoryMax     = 10
)

// migrationSlackSeconds is how much earlier than the release timeout the migration Job is stopped, so a stuck
// migration fails the release with the Job's own error rather than a bare Helm timeout.
const migrationSlackSeconds = 60

// Args configures one Stack Auth release. Zero values of optional fields take the defaults above.
type Args struct {
	// Namespace the release and all its objects go in (required).
	Namespace string
	// ReleaseName is the Helm release name and the base name of every object, so the Service is called this too.
	ReleaseName string
	// ChartDir is the chart directory, relative to the working directory (the repo root for `go run ./cmd/plan`).
	ChartDir string
	// Image is the Stack Auth server image; Tag is required and never "latest".
	Image Image
	// APIHost and DashboardHost are the public host names (no scheme); the public URLs are https://<host>.
	APIHost       string
	DashboardHost string
	// Replicas are the HPA bounds.
	Replicas ReplicaBounds
	// Resources of the server container; all four quantities are required.
	Resources Resources
	// ExtraEnv holds non-secret tuning env (NODE_OPTIONS, ...). Names that look secret are refused.
	ExtraEnv map[string]string
	// GatewayPodLabels select the rate-limit gateway pods, the only pods besides the release's own cron pods that
	// may call the API port.
	GatewayPodLabels map[string]string
	// EdgeNamespace is where the edge proxies run; they may reach the dashboard port.
	EdgeNamespace string
	// DatabaseCIDRs and DatabasePort are where Postgres (or RDS Proxy) listens; the only database egress allowed.
	DatabaseCIDRs []string
	DatabasePort  int
	// EmailPort is the SMTP port of the mail relay; with it, internet egress is HTTPS plus this port only
	// (without it, the chart's default of 443, 465 and 587).
	EmailPort int
	// SecretName is the Secret holding Stack Auth's secret env (made by the ExternalSecret).
	SecretName string
	// TimeoutSeconds bounds each Helm step (migration hook, rollout); past it an atomic upgrade rolls back.
	TimeoutSeconds int
	// HistoryMax is how many release revisions Helm keeps for rollback.
	HistoryMax int
	// DependsOn lists resources the release waits for, e.g. the ExternalSecret that creates SecretName.
	DependsOn []pulumi.Resource
}

// Image names a container image by repository and pinned tag.
type Image struct {
	Repository string
	Tag        string
}

// ReplicaBounds are the HPA's minimum and maximum replica counts.
type ReplicaBounds struct {
	Min int
	Max int
}

// Resources are a container's requests and limits.
type Resources = k8sbase.Resources

// ResourceList holds Kubernetes quantities such as "500m" or "2Gi".
type ResourceList = k8sbase.ResourceList

// reservedEnv are env names the chart sets itself; ExtraEnv may not repeat them.
var reservedEnv = map[string]bool{
	"NEXT_PUBLIC_STACK_API_URL":       true,
	"NEXT_PUBLIC_STACK_DASHBOARD_URL": true,
	"BACKEND_PORT":                    true,
	"DASHBOARD_PORT":                  true,
	"STACK_SKIP_MIGRATIONS":           true,
	"STACK_SKIP_SEED_SCRIPT":          true,
}

// secretLooking matches names of env vars or values keys that would carry credentials: the secret env of Stack
// Auth (STACK_SERVER_SECRET, STACK_DATABASE_CONNECTION_STRING, CRON_SECRET, *_CLIENT_SECRET,
// STACK_SEED_INTERNAL_PROJECT_*_KEY, STACK_EMAIL_PASSWORD, STACK_SVIX_API_KEY, ...) and the usual other spellings.
var secretLooking = regexp.MustCompile(`(?i)(secret|password|passwd|token|credential|private|api_?key|_key$|connection_?string|database_?url|dsn)`)

// LooksSecret reports whether an env var or values key name looks like it would hold a credential.
// A reference to a Secret by name ("secretName") is not itself secret and is allowed.
func LooksSecret(name string) bool {
	return name != "secretName" && secretLooking.MatchString(name)
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// withDefaults returns a copy of args with the optional fields filled in.
func (a Args) withDefaults() Args {
	if a.ReleaseName == "" {
		a.ReleaseName = DefaultReleaseName
	}
	if a.ChartDir == "" {
		a.ChartDir = DefaultChartDir
	}
	if a.Image.Repository == "" {
		a.Image.Repository = DefaultImage
	}
	if a.SecretName == "" {
		a.SecretName = DefaultSecretName
	}
	if a.DatabasePort == 0 {
		a.DatabasePort = DefaultDatabasePort
	}
	if a.TimeoutSeconds == 0 {
		a.TimeoutSeconds = DefaultTimeoutSeconds
	}
	if a.HistoryMax == 0 {
		a.HistoryMax = DefaultHistoryMax
	}
	return a
}

// validate reports every problem with args at once, each naming the field and the fix.
func (a Args) validate() error {
	var errs []error
	bad := func(format string, v ...any) { errs = append(errs, fmt.Errorf("stackauth: "+format, v...)) }

	for _, f := range []struct{ field, value string }{{"Namespace", a.Namespace}, {"EdgeNamespace", a.EdgeNamespace}} {
		if msgs := validation.IsDNS1123Label(f.value); len(msgs) > 0 {
			bad("args.%s %q is not a namespace name (%s): use lower-case letters, digits and '-'", f.field, f.value, strings.Join(msgs, "; "))
		}
	}
	if msgs := validation.IsDNS1123Label(a.ReleaseName); len(msgs) > 0 || len(a.ReleaseName) > 40 {
		bad("args.ReleaseName %q must be a DNS label of at most 40 characters (object names get suffixes): for example %q", a.ReleaseName, DefaultReleaseName)
	}
	if msgs := validation.IsDNS1123Subdomain(a.SecretName); len(msgs) > 0 {
		bad("args.SecretName %q is not a Secret name (%s): for example %q", a.SecretName, strings.Join(msgs, "; "), DefaultSecretName)
	}
	switch {
	case a.Image.Tag == "":
		bad("args.Image.Tag is empty: pin a Stack Auth version such as \"2.8.39\"")
	case a.Image.Tag == "latest":
		bad("args.Image.Tag is \"latest\": pin a Stack Auth version such as \"2.8.39\" so a rollout is a deliberate change")
	case strings.ContainsAny(a.Image.Tag, ":@/ "):
		bad("args.Image.Tag %q must be a bare tag (no ':', '@', '/'): put the registry path in Image.Repository", a.Image.Tag)
	}
	if strings.ContainsAny(a.Image.Repository, "@ ") || strings.HasSuffix(a.Image.Repository, ":") {
		bad("args.Image.Repository %q must be a repository without tag or digest, for example %q", a.Image.Repository, DefaultImage)
	}
	for _, f := range []struct{ field, host string }{{"APIHost", a.APIHost}, {"DashboardHost", a.DashboardHost}} {
		if msgs := validation.IsDNS1123Subdomain(f.host); len(msgs) > 0 || !strings.Contains(f.host, ".") {
			bad("args.%s %q is not a host name: give the public host without scheme or path, for example \"api.example.com\"", f.field, f.host)
		}
	}
	if a.APIHost != "" && a.APIHost == a.DashboardHost {
		bad("args.APIHost and args.DashboardHost are both %q: the API and the dashboard need hosts of their own", a.APIHost)
	}
	if a.Replicas.Min < 1 || a.Replicas.Max < a.Replicas.Min {
		bad("args.Replicas {Min: %d, Max: %d} is not a range: need 1 <= Min <= Max (for example {5, 50} in prod, {2, 4} in staging)", a.Replicas.Min, a.Replicas.Max)
	}
	errs = append(errs, a.Resources.Validate("stackauth")...)
	for _, name := range sortedKeys(a.ExtraEnv) {
		switch {
		case !envName.MatchString(name):
			bad("args.ExtraEnv key %q is not an env var name: use letters, digits and '_'", name)
		case reservedEnv[name]:
			bad("args.ExtraEnv sets %s, which the chart sets itself: remove it from ExtraEnv", name)
		case LooksSecret(name):
			bad("args.ExtraEnv sets %s, which looks secret: put it in the Secrets Manager secret that feeds %q, never in Helm values", name, a.SecretName)
		}
	}
	if len(a.GatewayPodLabels) == 0 {
		bad("args.GatewayPodLabels is empty: give the labels of the rate-limit gateway pods, the only callers of the API port")
	}
	for _, key := range sortedKeys(a.GatewayPodLabels) {
		if msgs := validation.IsQualifiedName(key); len(msgs) > 0 {
			bad("args.GatewayPodLabels key %q is not a label key (%s)", key, strings.Join(msgs, "; "))
		}
		if msgs := validation.IsValidLabelValue(a.GatewayPodLabels[key]); len(msgs) > 0 {
			bad("args.GatewayPodLabels[%q] = %q is not a label value (%s)", key, a.GatewayPodLabels[key], strings.Join(msgs, "; "))
		}
	}
	if len(a.DatabaseCIDRs) == 0 {
		bad("args.DatabaseCIDRs is empty: give the CIDRs of the database subnets, the only place the pods may reach Postgres")
	}
	for _, cidr := range a.DatabaseCIDRs {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			bad("args.DatabaseCIDRs has %q, which is not a CIDR: write it like \"10.0.64.0/20\"", cidr)
		}
	}
	if a.DatabasePort < 1 || a.DatabasePort > 65535 {
		bad("args.DatabasePort %d is not a TCP port: Postgres listens on 5432 unless you changed it", a.DatabasePort)
	}
	if a.EmailPort < 0 || a.EmailPort > 65535 {
		bad("args.EmailPort %d is not a TCP port: use the SMTP relay's port (465 or 587), or 0 for the chart's default", a.EmailPort)
	}
	if a.TimeoutSeconds < 300 {
		bad("args.TimeoutSeconds %d is too short: give at least 300 (the migration Job gets %d s less, and a rollout of many pods takes minutes)", a.TimeoutSeconds, migrationSlackSeconds)
	}
	if a.HistoryMax < 2 {
		bad("args.HistoryMax %d keeps no revision to roll back to: keep at least 2 (default %d)", a.HistoryMax, DefaultHistoryMax)
	}
	return errors.Join(errs...)
}

// ChartValues computes the chart values for args (after defaults). It never includes a secret: the pods get those
// from the Secret args.SecretName. Values the chart's values.yaml documents and args do not cover keep their
// defaults. Maps and slices are map[string]any and []any, the shapes Helm merges.
func ChartValues(args Args) (map[string]any, error) {
	a := args.withDefaults()
	if err := a.validate(); err != nil {
		return nil, err
	}
	networkPolicy := map[string]any{
		"apiClients": map[string]any{"podLabels": stringMap(a.GatewayPodLabels)},
		"edge":       map[string]any{"namespace": a.EdgeNamespace},
		"database":   map[string]any{"cidrs": stringSlice(a.DatabaseCIDRs), "port": a.DatabasePort},
	}
	if a.EmailPort != 0 {
		networkPolicy["internet"] = map[string]any{"ports": []any{443, a.EmailPort}}
	}
	return map[string]any{
		"fullnameOverride": a.ReleaseName,
		"image":            map[string]any{"repository": a.Image.Repository, "tag": a.Image.Tag},
		"urls":             map[string]any{"api": "https://" + a.APIHost, "dashboard": "https://" + a.DashboardHost},
		"secretName":       a.SecretName,
		"extraEnv":         stringMap(a.ExtraEnv),
		"resources": map[string]any{
			"requests": map[string]any{"cpu": a.Resources.Requests.CPU, "memory": a.Resources.Requests.Memory},
			"limits":   map[string]any{"cpu": a.Resources.Limits.CPU, "memory": a.Resources.Limits.Memory},
		},
		"autoscaling":   map[string]any{"minReplicas": a.Replicas.Min, "maxReplicas": a.Replicas.Max},
		"migrations":    map[string]any{"activeDeadlineSeconds": a.TimeoutSeconds - migrationSlackSeconds},
		"networkPolicy": networkPolicy,
	}, nil
}

// ServerPodLabels are the labels of the Stack Auth server pods of a release, for other components' NetworkPolicies
// (the gateway's egress to the API port).
func ServerPodLabels(releaseName string) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":      "stack-backend",
		"app.kubernetes.io/instance":  releaseName,
		"app.kubernetes.io/component": "server",
	}
}

// checkChartDir fails unless dir holds a chart, naming the usual cause.
func checkChartDir(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "Chart.yaml")); err != nil {
		wd, _ := os.Getwd()
		return fmt.Errorf("stackauth: args.ChartDir %q has no Chart.yaml (working directory %s): run from the repo root or set ChartDir to the chart's path", dir, wd)
	}
	return nil
}

func stringMap(in map[string]string) map[string]any {
	out := make(map[string]any, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

func stringSlice(in []string) []any {
	out := make([]any, len(in))
	for i, v := range in {
		out[i] = v
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
