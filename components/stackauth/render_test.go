package stackauth

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/stackauth-platform/infra/internal/chartrender"
)

// repoRoot is the directory holding go.mod, so tests name paths as the plan does from the repo root.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's working directory")
		}
		dir = parent
	}
}

// testKubeVersion is the cluster version the chart is rendered and linted for (an EKS version in support).
var testKubeVersion = common.KubeVersion{Version: "v1.33.0", Major: "1", Minor: "33"}

// renderChart renders the chart with values the way the helm/v3 Release would (internal/chartrender): values travel
// as JSON (numbers become float64), the release is installed under args' name and namespace.
func renderChart(t *testing.T, a Args, values map[string]any) (map[string]string, error) {
	t.Helper()
	a = a.withDefaults()
	return chartrender.Render(filepath.Join(repoRoot(t), DefaultChartDir),
		chartrender.Release{Name: a.ReleaseName, Namespace: a.Namespace, KubeVersion: testKubeVersion.Version}, values)
}

// manifest is one rendered object, decoded strictly into its k8s.io/api type.
type manifest struct {
	source string // template file it came from
	kind   string
	object any
}

// decoders maps apiVersion/kind to the typed struct a rendered object must decode into. A kind the chart renders
// that is missing here fails the test, so every object is checked.
var decoders = map[string]func() any{
	"apps/v1/Deployment":                     func() any { return &appsv1.Deployment{} },
	"v1/Service":                             func() any { return &corev1.Service{} },
	"v1/ServiceAccount":                      func() any { return &corev1.ServiceAccount{} },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"policy/v1/PodDisruptionBudget":          func() any { return &policyv1.PodDisruptionBudget{} },
	"batch/v1/Job":                           func() any { return &batchv1.Job{} },
	"batch/v1/CronJob":                       func() any { return &batchv1.CronJob{} },
	"networking.k8s.io/v1/NetworkPolicy":     func() any { return &networkingv1.NetworkPolicy{} },
}

// strictDecode decodes one YAML document into the type its apiVersion/kind names; unknown or duplicate fields fail.
func strictDecode(doc []byte) (string, any, error) {
	var meta metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		return "", nil, err
	}
	gvk := meta.APIVersion + "/" + meta.Kind
	newObject, ok := decoders[gvk]
	if !ok {
		return "", nil, fmt.Errorf("no typed decoder for %s", gvk)
	}
	obj := newObject()
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return "", nil, fmt.Errorf("%s: %w", gvk, err)
	}
	return meta.Kind, obj, nil
}

// decodeAll splits rendered templates into documents and decodes each strictly, failing the test on any error.
func decodeAll(t *testing.T, rendered map[string]string) []manifest {
	t.Helper()
	docs, err := chartrender.Documents(rendered)
	if err != nil {
		t.Fatal(err)
	}
	var out []manifest
	for _, d := range docs {
		kind, obj, err := strictDecode(d.YAML)
		if err != nil {
			t.Fatalf("%s: strict decode: %v\n%s", d.Template, err, d.YAML)
		}
		out = append(out, manifest{source: d.Template, kind: kind, object: obj})
	}
	return out
}

// only returns the single object of type T, failing unless there is exactly one.
func only[T any](t *testing.T, objects []manifest) *T {
	t.Helper()
	found := all[T](objects)
	if len(found) != 1 {
		t.Fatalf("want exactly one %T, rendered %d", *new(T), len(found))
	}
	return found[0]
}

func all[T any](objects []manifest) []*T {
	var found []*T
	for _, m := range objects {
		if obj, ok := m.object.(*T); ok {
			found = append(found, obj)
		}
	}
	return found
}

// peer is the other end of a connection, for evaluating NetworkPolicies.
type peer struct {
	namespace string
	podLabels map[string]string // nil for an IP outside the cluster
	ip        string
}

// allowed evaluates Kubernetes NetworkPolicy semantics for traffic of one direction between a pod of the release
// (labels pod, namespace ns) and a peer: isolated pods admit only what some selecting policy's rule allows.
func allowed(t *testing.T, policies []*networkingv1.NetworkPolicy, ns string, pod map[string]string, dir networkingv1.PolicyType, p peer, port int32) bool {
	t.Helper()
	isolated := false
	for _, pol := range policies {
		if pol.Namespace != ns || !selects(t, &pol.Spec.PodSelector, pod) || !hasType(pol.Spec.PolicyTypes, dir) {
			continue
		}
		isolated = true
		if dir == networkingv1.PolicyTypeIngress {
			for _, rule := range pol.Spec.Ingress {
				if peersMatch(t, rule.From, pol.Namespace, p) && portsMatch(rule.Ports, port) {
					return true
				}
			}
		} else {
			for _, rule := range pol.Spec.Egress {
				if peersMatch(t, rule.To, pol.Namespace, p) && portsMatch(rule.Ports, port) {
					return true
				}
			}
		}
	}
	return !isolated
}

func hasType(types []networkingv1.PolicyType, want networkingv1.PolicyType) bool {
	for _, ty := range types {
		if ty == want {
			return true
		}
	}
	return false
}

func selects(t *testing.T, sel *metav1.LabelSelector, set map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatalf("bad selector %v: %v", sel, err)
	}
	return s.Matches(labels.Set(set))
}

func peersMatch(t *testing.T, peers []networkingv1.NetworkPolicyPeer, policyNS string, p peer) bool {
	if len(peers) == 0 {
		return true
	}
	for _, np := range peers {
		switch {
		case np.IPBlock != nil:
			if p.ip != "" && cidrContains(t, np.IPBlock.CIDR, p.ip) && !anyCIDRContains(t, np.IPBlock.Except, p.ip) {
				return true
			}
		case p.podLabels == nil:
			// an address outside the cluster matches only ipBlocks
		case np.NamespaceSelector != nil:
			nsLabels := map[string]string{"kubernetes.io/metadata.name": p.namespace}
			if selects(t, np.NamespaceSelector, nsLabels) && (np.PodSelector == nil || selects(t, np.PodSelector, p.podLabels)) {
				return true
			}
		case np.PodSelector != nil:
			if p.namespace == policyNS && selects(t, np.PodSelector, p.podLabels) {
				return true
			}
		}
	}
	return false
}

func portsMatch(ports []networkingv1.NetworkPolicyPort, port int32) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if p.Port == nil || p.Port.IntVal == port {
			return true
		}
	}
	return false
}

func cidrContains(t *testing.T, cidr, ip string) bool {
	_, block, err := net.ParseCIDR(cidr)
	if err != nil {
		t.Fatalf("bad CIDR %q in a policy: %v", cidr, err)
	}
	return block.Contains(net.ParseIP(ip))
}

func anyCIDRContains(t *testing.T, cidrs []string, ip string) bool {
	for _, c := range cidrs {
		if cidrContains(t, c, ip) {
			return true
		}
	}
	return false
}
