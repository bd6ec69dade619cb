// Package ratelimitgateway runs the rate limiter (ratelimit/) on the cluster, between the edge and the Stack Auth
// API: Deployment, Service, HPA, PDB, ServiceAccount, rules ConfigMap, NetworkPolicy and ServiceMonitor, all typed
// pulumi-kubernetes resources. Secrets reach the pods only by reference to the synced Secret.
package ratelimitgateway

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/stackauth-platform/infra/components/k8sbase"
	"net/netip"
	"net/url"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/stackauth-platform/infra/ratelimit/rules"
)

// Ports of the rate limiter (its LISTEN_ADDR and ADMIN_ADDR defaults).
const (
	HTTPPort  = 8080
	AdminPort = 9090
)

// Defaults for optional args.
const (
	// DefaultName is the name of every object; the edge routes the API host to the Service of this name.
	DefaultName = "ratelimit-gateway"
	// DefaultSecretName is the Secret External Secrets syncs from Secrets Manager (components/credentials composes it).
	DefaultSecretName = "stack-backend-secrets"
	// Keys of that Secret the gateway reads.
	RedisURLKey     = "REDIS_URL"
	CallerSecretKey = "RATE_LIMIT_TRUSTED_CALLER_SECRET"
	// DefaultRedisPort is where ElastiCache listens.
	DefaultRedisPort = 6379
	// DefaultDrainSeconds is the gateway's DRAIN_TIMEOUT: on SIGTERM, requests in flight get this long.
	DefaultDrainSeconds = 20
)

// preStopSeconds keeps a terminating pod serving while the endpoint removal reaches the edge's proxies, so no new
// request lands on a pod that has stopped accepting.
const preStopSeconds = 5

// Args configure the gateway. Zero values of optional fields take the defaults above.
type Args struct {
	// Namespace of the stack (required): the gateway runs next to the Stack Auth release.
	Namespace string
	// Name of every object (default DefaultName).
	Name string
	// Image is <repository>@sha256:<digest> (by digest, so a new build rolls and an unchanged one does not). It may
	// be unknown in a preview.
	Image pulumi.StringInput
	// Replicas are the HPA bounds.
	Replicas ReplicaBounds
	// Resources of the gateway container; all four quantities are required.
	Resources Resources
	// Upstream is the Stack Auth API Service: UPSTREAM_URL and the in-cluster JWKS location.
	Upstream Upstream
	// PublicAPIURL is the API's public base URL (https://api.<domain>), under which Stack Auth issues tokens.
	PublicAPIURL string
	// ProjectID is the Stack Auth project whose access tokens the gateway verifies (audience, issuer path, JWKS).
	// Requests with a verified token count per user; all others count per client IP.
	ProjectID string
	// SecretName is the synced Secret holding REDIS_URL and RATE_LIMIT_TRUSTED_CALLER_SECRET (default DefaultSecretName).
	SecretName string
	// TrustedProxies are the CIDRs whose X-Forwarded-For is believed: where the edge's proxy pods get their IPs.
	TrustedProxies []string
	// MaxConcurrentRequests per replica before shedding with 503 (0: no limit).
	MaxConcurrentRequests int
	// Rules is the rules YAML (ratelimit/rules format); empty means the built-in defaults.
	Rules []byte
	// EdgeNamespace is where the edge proxies run: the only source allowed to the traffic port.
	EdgeNamespace string
	// RedisCIDRs and RedisPort are where ElastiCache listens: the only Redis egress allowed.
	RedisCIDRs []string
	RedisPort  int
	// ServiceMonitor puts the admin port under Prometheus; nil only where the stack runs no monitoring release.
	ServiceMonitor *ServiceMonitor
	// DependsOn lists what the workload waits for: the namespace, the ExternalSecret that creates SecretName.
	DependsOn []pulumi.Resource
}

// Upstream locates the Stack Auth API Service: components/stackauth's Release outputs.
type Upstream struct {
	// URL is the in-cluster base URL, e.g. http://stack-backend.stack-auth-prod.svc:8102 (Release.APIServiceURL).
	URL pulumi.StringInput
	// PodLabels select the API pods, for the egress rule (Release.ServerPodLabels).
	PodLabels pulumi.StringMapInput
	// Port is the API port of those pods (Release.APIPort).
	Port pulumi.IntInput
}

// ServiceMonitor places the gateway under the monitoring release's Prometheus.
type ServiceMonitor struct {
	// Namespace is where Prometheus runs: the only source allowed to the admin port.
	Namespace string
	// Labels are those Prometheus selects ServiceMonitors by (e.g. release: <monitoring release>).
	Labels map[string]string
	// Release installs the ServiceMonitor CRD; the ServiceMonitor depends on it.
	Release pulumi.Resource
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

// PodLabels select the gateway's pods: for its Service, and for the Stack Auth NetworkPolicy that admits only these
// pods to the API port.
func PodLabels(name string) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":     "ratelimit-gateway",
		"app.kubernetes.io/instance": name,
	}
}

// RulesHash is the pod-template annotation value that rolls the pods when the rules change.
func RulesHash(rulesYAML []byte) string {
	sum := sha256.Sum256(rulesYAML)
	return hex.EncodeToString(sum[:])
}

// JWKSURL is where the gateway fetches Stack Auth's signing keys: the API Service in the cluster, so key fetches
// neither leave the cluster nor pass through the edge and the gateway itself.
func (u Upstream) JWKSURL(projectID string) pulumi.StringOutput {
	return pulumi.Sprintf("%s/api/v1/projects/%s/.well-known/jwks.json", u.URL, url.PathEscape(projectID))
}

func (a Args) withDefaults() Args {
	if a.Name == "" {
		a.Name = DefaultName
	}
	if a.SecretName == "" {
		a.SecretName = DefaultSecretName
	}
	if a.RedisPort == 0 {
		a.RedisPort = DefaultRedisPort
	}
	if len(a.Rules) == 0 {
		a.Rules = rules.DefaultYAML()
	}
	return a
}

// validate reports every problem at once, each naming the field and the fix.
func (a Args) validate() error {
	var errs []error
	bad := func(format string, v ...any) { errs = append(errs, fmt.Errorf("ratelimitgateway: "+format, v...)) }

	for _, f := range []struct{ field, value string }{
		{"Namespace", a.Namespace}, {"EdgeNamespace", a.EdgeNamespace},
	} {
		if msgs := validation.IsDNS1123Label(f.value); len(msgs) > 0 {
			bad("args.%s %q is not a namespace name (%s): use lower-case letters, digits and '-'", f.field, f.value, strings.Join(msgs, "; "))
		}
	}
	if msgs := validation.IsDNS1123Label(a.Name); len(msgs) > 0 {
		bad("args.Name %q is not a DNS label (%s): for example %q", a.Name, strings.Join(msgs, "; "), DefaultName)
	}
	if msgs := validation.IsDNS1123Subdomain(a.SecretName); len(msgs) > 0 {
		bad("args.SecretName %q is not a Secret name (%s): for example %q", a.SecretName, strings.Join(msgs, "; "), DefaultSecretName)
	}
	if a.Image == nil {
		bad("args.Image is nil: give the gateway image by digest (<repository>@sha256:...), e.g. gatewayimage.Image.Ref")
	}
	if a.Replicas.Min < 1 || a.Replicas.Max < a.Replicas.Min {
		bad("args.Replicas {Min: %d, Max: %d} is not a range: need 1 <= Min <= Max (for example {3, 12} in prod)", a.Replicas.Min, a.Replicas.Max)
	}
	if a.Replicas.Min < 2 {
		// With one pod, every rollout and node drain drops the API.
		bad("args.Replicas.Min %d leaves the API behind a single pod: run at least 2", a.Replicas.Min)
	}
	errs = append(errs, a.Resources.Validate("ratelimitgateway")...)
	if a.Upstream.URL == nil || a.Upstream.PodLabels == nil || a.Upstream.Port == nil {
		bad("args.Upstream needs URL, PodLabels and Port: give the Stack Auth release's APIServiceURL, ServerPodLabels and APIPort")
	}
	if u, err := url.Parse(a.PublicAPIURL); err != nil || u.Scheme != "https" || u.Host == "" || u.Path != "" {
		bad("args.PublicAPIURL %q is not an https base URL: give the API's public URL, e.g. https://api.example.com", a.PublicAPIURL)
	}
	if a.ProjectID == "" || strings.ContainsAny(a.ProjectID, "/?# ") {
		bad("args.ProjectID %q is not a Stack Auth project id: use the id of the project whose users call the API (\"internal\" is the dashboard's own)", a.ProjectID)
	}
	if len(a.TrustedProxies) == 0 {
		bad("args.TrustedProxies is empty: give the CIDRs the edge's proxy pods get their IPs from, or every client counts as the edge")
	}
	for _, c := range a.TrustedProxies {
		if p, err := netip.ParsePrefix(c); err != nil || p.Bits() == 0 {
			bad("args.TrustedProxies has %q: give a CIDR narrower than /0 (the pod subnets), like \"10.20.64.0/18\"", c)
		}
	}
	if a.MaxConcurrentRequests < 0 {
		bad("args.MaxConcurrentRequests %d is negative: give the in-flight limit per replica, or 0 for none", a.MaxConcurrentRequests)
	}
	if _, err := rules.Parse(a.Rules); err != nil {
		bad("args.Rules: %v", err)
	}
	if len(a.RedisCIDRs) == 0 {
		bad("args.RedisCIDRs is empty: give the CIDRs of the cache subnets, the only place the gateway may reach Redis")
	}
	for _, c := range a.RedisCIDRs {
		if _, err := netip.ParsePrefix(c); err != nil {
			bad("args.RedisCIDRs has %q, which is not a CIDR: write it like \"10.20.64.0/20\"", c)
		}
	}
	if a.RedisPort < 1 || a.RedisPort > 65535 {
		bad("args.RedisPort %d is not a TCP port: ElastiCache listens on 6379", a.RedisPort)
	}
	if m := a.ServiceMonitor; m != nil {
		if len(m.Labels) == 0 || m.Release == nil {
			bad("args.ServiceMonitor needs Labels and Release: the monitoring release's selector labels and the release itself (it installs the CRD)")
		}
		if msgs := validation.IsDNS1123Label(m.Namespace); len(msgs) > 0 {
			bad("args.ServiceMonitor.Namespace %q is not a namespace name (%s): give the namespace Prometheus runs in", m.Namespace, strings.Join(msgs, "; "))
		}
		errs = append(errs, labelErrors("ServiceMonitor.Labels", m.Labels)...)
	}
	return errors.Join(errs...)
}

func labelErrors(field string, labels map[string]string) []error {
	var errs []error
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("ratelimitgateway: args.%s key %q is not a label key (%s)", field, k, strings.Join(msgs, "; ")))
		}
		if msgs := validation.IsValidLabelValue(labels[k]); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("ratelimitgateway: args.%s[%q] = %q is not a label value (%s)", field, k, labels[k], strings.Join(msgs, "; ")))
		}
	}
	return errs
}

// memoryLimitBytes is GOMEMLIMIT: 90% of the container's memory limit, so the Go GC works harder before the
// kernel's OOM killer would step in.
func memoryLimitBytes(limit string) string {
	q := resource.MustParse(limit)
	return fmt.Sprint(q.Value() / 10 * 9)
}
