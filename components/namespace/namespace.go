// Package namespace creates Kubernetes namespaces with Pod Security Admission labels, so what may run in a
// namespace is decided where the namespace is made and not left to each workload.
package namespace

import (
	"fmt"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/stackauth-platform/infra/components/k8sbase"
)

// Pod Security Standards levels (https://kubernetes.io/docs/concepts/security/pod-security-standards/).
const (
	Restricted = "restricted"
	Baseline   = "baseline"
)

// Args configure one namespace.
type Args struct {
	// Name is the namespace's name, used as is (no auto-naming): other objects refer to it.
	Name string
	// Enforce is the Pod Security level pods must meet to be admitted (default Restricted).
	Enforce string
	// Warn is the level that warns on apply and is recorded in the audit log (default Restricted). It may be stricter
	// than Enforce, for namespaces whose third-party pods cannot meet restricted yet.
	Warn string
	// Labels are added to the Pod Security labels.
	Labels map[string]string
	// DefaultDeny adds a NetworkPolicy that isolates every pod of the namespace in both directions, so a pod is
	// reachable, and reaches out, only as the policies of its own workload allow.
	DefaultDeny bool
}

// Namespace is one namespace.
type Namespace struct {
	pulumi.ResourceState

	// Name is the namespace's name, known before it exists.
	Name string
	// Resource is the Namespace object; depend on it before creating anything inside.
	Resource *corev1.Namespace
	// DefaultDeny is the namespace-wide deny-all NetworkPolicy; nil unless args.DefaultDeny.
	DefaultDeny *networkingv1.NetworkPolicy
}

// DefaultDenyName names the deny-all NetworkPolicy.
const DefaultDenyName = "default-deny"

// PodSecurityLabels are the Pod Security Admission labels for an enforce and a warn/audit level. The version is
// "latest": the rules follow the cluster's own version, which the cluster component keeps in standard support.
func PodSecurityLabels(enforce, warn string) map[string]string {
	return map[string]string{
		"pod-security.kubernetes.io/enforce":         enforce,
		"pod-security.kubernetes.io/enforce-version": "latest",
		"pod-security.kubernetes.io/audit":           warn,
		"pod-security.kubernetes.io/audit-version":   "latest",
		"pod-security.kubernetes.io/warn":            warn,
		"pod-security.kubernetes.io/warn-version":    "latest",
	}
}

func (a Args) withDefaults() Args {
	if a.Enforce == "" {
		a.Enforce = Restricted
	}
	if a.Warn == "" {
		a.Warn = Restricted
	}
	return a
}

func (a Args) validate() error {
	var problems []string
	for _, err := range k8sbase.NameErrors("namespace", k8sbase.NameField{Field: "Name", Value: a.Name}) {
		problems = append(problems, err.Error())
	}
	for _, f := range []struct{ field, level string }{{"Enforce", a.Enforce}, {"Warn", a.Warn}} {
		if f.level != Restricted && f.level != Baseline {
			problems = append(problems, fmt.Sprintf("args.%s %q is not a Pod Security level this project allows: use %q or %q", f.field, f.level, Restricted, Baseline))
		}
	}
	if a.Enforce == Restricted && a.Warn == Baseline {
		problems = append(problems, "args.Warn is baseline below an enforced restricted: warnings would never fire; leave Warn empty")
	}
	for k := range a.Labels {
		if strings.HasPrefix(k, "pod-security.kubernetes.io/") {
			problems = append(problems, fmt.Sprintf("args.Labels sets %s: set the levels with args.Enforce and args.Warn", k))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("namespace %q: %s", a.Name, strings.Join(problems, "; "))
	}
	return nil
}

// NewNamespace creates the namespace. Pass the kubernetes provider in opts.
func NewNamespace(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Namespace, error) {
	a := args.withDefaults()
	if err := a.validate(); err != nil {
		return nil, err
	}
	component := &Namespace{Name: a.Name}
	if err := ctx.RegisterComponentResource("stackauth:k8s:Namespace", name, component, opts...); err != nil {
		return nil, err
	}
	labels := PodSecurityLabels(a.Enforce, a.Warn)
	for k, v := range a.Labels {
		labels[k] = v
	}
	ns, err := corev1.NewNamespace(ctx, name, &corev1.NamespaceArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:   pulumi.String(a.Name),
			Labels: pulumi.ToStringMap(labels),
		},
	}, pulumi.Parent(component))
	if err != nil {
		return nil, err
	}
	component.Resource = ns
	if a.DefaultDeny {
		// An empty pod selector selects every pod; both policy types with no rules allow nothing.
		deny, err := networkingv1.NewNetworkPolicy(ctx, name+"-default-deny", &networkingv1.NetworkPolicyArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(DefaultDenyName), Namespace: pulumi.String(a.Name)},
			Spec: &networkingv1.NetworkPolicySpecArgs{
				PodSelector: &metav1.LabelSelectorArgs{},
				PolicyTypes: pulumi.ToStringArray([]string{"Ingress", "Egress"}),
			},
		}, pulumi.Parent(component), pulumi.DependsOn([]pulumi.Resource{ns}))
		if err != nil {
			return nil, err
		}
		component.DefaultDeny = deny
	}
	if err := ctx.RegisterResourceOutputs(component, pulumi.Map{"name": pulumi.String(a.Name)}); err != nil {
		return nil, err
	}
	return component, nil
}
