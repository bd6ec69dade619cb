package edge

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/stackauth-platform/infra/components/k8sbase"
)

// HTTPListener is the name of the plain-HTTP listener: it only redirects to HTTPS, and cert-manager attaches its
// ACME HTTP-01 challenge routes to it.
const HTTPListener = "http"

// DefaultGatewayName names the stack's Gateway.
const DefaultGatewayName = "edge"

// cert-manager's HTTP-01 solver pods carry this label and listen on this port.
const (
	acmeSolverLabel = "acme.cert-manager.io/http01-solver"
	acmeSolverPort  = 8089
)

// GatewayArgs configure the stack's Gateway and its routes. The Gateway and the routes live in one namespace with
// the Services they route to, so no ReferenceGrant is needed.
type GatewayArgs struct {
	// Name of the Gateway (default edge).
	Name string
	// Namespace of the Gateway, its routes and the backend Services.
	Namespace string
	// ClassName is the GatewayClass (Controller.ClassName).
	ClassName string
	// ClusterIssuer is the cert-manager ClusterIssuer that issues each HTTPS listener's certificate.
	ClusterIssuer string
	// ProxyNamespace is where the edge proxies run (Controller.ProxyNamespace). They carry cert-manager's HTTP-01
	// challenges to the solver pods it starts in Namespace, which a NetworkPolicy admits from there.
	ProxyNamespace string
	// Routes are the public hosts, one HTTPS listener and one HTTPRoute each.
	Routes []Route
	// GatewayAPIRelease installs the Gateway API CRDs (Controller.Release).
	GatewayAPIRelease pulumi.Resource
	// DependsOn is what the Gateway waits for besides the CRDs: its namespace, the GatewayClass, the ClusterIssuer
	// it names, the load balancer controller that must see its Service.
	DependsOn []pulumi.Resource
}

// Route sends all traffic for one public host to one Service port.
type Route struct {
	// Name names the HTTPS listener, the HTTPRoute and the certificate Secret (<name>-tls).
	Name string
	// Host is the public host name.
	Host string
	// Service and Port are the backend in the Gateway's namespace; Service is an input so a route follows the
	// name a component exports.
	Service pulumi.StringInput
	Port    int
}

// Gateway is the stack's Gateway and its routes.
type Gateway struct {
	pulumi.ResourceState

	// Name and Namespace of the Gateway, known before it exists (cert-manager's solver names it).
	Name      string
	Namespace string
	// Resource is the Gateway object.
	Resource *apiextensions.CustomResource
	// Routes are the HTTPRoutes by route name, plus the HTTPS redirect under HTTPListener.
	Routes map[string]*apiextensions.CustomResource
}

func (a GatewayArgs) withDefaults() GatewayArgs {
	if a.Name == "" {
		a.Name = DefaultGatewayName
	}
	return a
}

func (a GatewayArgs) validate() error {
	var errs []error
	bad := func(format string, v ...any) { errs = append(errs, fmt.Errorf("edge: "+format, v...)) }
	errs = append(errs, k8sbase.NameErrors("edge", k8sbase.NameField{Field: "Name", Value: a.Name}, k8sbase.NameField{Field: "Namespace", Value: a.Namespace},
		k8sbase.NameField{Field: "ClassName", Value: a.ClassName}, k8sbase.NameField{Field: "ClusterIssuer", Value: a.ClusterIssuer},
		k8sbase.NameField{Field: "ProxyNamespace", Value: a.ProxyNamespace})...)
	if len(a.Routes) == 0 {
		bad("args.Routes is empty: give at least one public host and the Service it goes to")
	}
	names, hosts := map[string]bool{HTTPListener: true}, map[string]bool{}
	for i, r := range a.Routes {
		if msgs := validation.IsDNS1123Label(r.Name); len(msgs) > 0 || names[r.Name] {
			bad("args.Routes[%d].Name %q must be a DNS label, unique, and not %q", i, r.Name, HTTPListener)
		}
		names[r.Name] = true
		if msgs := validation.IsDNS1123Subdomain(r.Host); len(msgs) > 0 || !strings.Contains(r.Host, ".") || hosts[r.Host] {
			bad("args.Routes[%d].Host %q is not a unique public host name: give it without scheme or path, like api.example.com", i, r.Host)
		}
		hosts[r.Host] = true
		if r.Service == nil {
			bad("args.Routes[%d].Service is nil: name the Service the host's traffic goes to", i)
		}
		if r.Port < 1 || r.Port > 65535 {
			bad("args.Routes[%d].Port %d is not a port: give the Service's port", i, r.Port)
		}
	}
	if a.GatewayAPIRelease == nil {
		bad("args.GatewayAPIRelease is nil: pass the edge Controller's Release, which installs the Gateway API CRDs")
	}
	return errors.Join(errs...)
}

// CertificateSecret is the Secret cert-manager writes the certificate of a route's listener to.
func CertificateSecret(route string) string { return route + "-tls" }

// GatewaySpec is the Gateway's spec: a plain-HTTP listener and one HTTPS listener per route, each terminating TLS
// with the certificate cert-manager keeps in the route's Secret.
func GatewaySpec(a GatewayArgs) map[string]any {
	same := map[string]any{"namespaces": map[string]any{"from": "Same"}}
	listeners := []any{map[string]any{
		"name": HTTPListener, "protocol": "HTTP", "port": 80, "allowedRoutes": same,
	}}
	for _, r := range a.Routes {
		listeners = append(listeners, map[string]any{
			"name": r.Name, "protocol": "HTTPS", "port": 443, "hostname": r.Host, "allowedRoutes": same,
			"tls": map[string]any{
				"mode":            "Terminate",
				"certificateRefs": []any{map[string]any{"group": "", "kind": "Secret", "name": CertificateSecret(r.Name)}},
			},
		})
	}
	return map[string]any{"gatewayClassName": a.ClassName, "listeners": listeners}
}

// RouteSpecs are the HTTPRoutes by name: each host's traffic to its Service, and on the HTTP listener a permanent
// redirect to HTTPS. The ACME challenge routes cert-manager adds to the HTTP listener match exact paths, which take
// precedence over the redirect's prefix match, so certificates can be issued through it.
func RouteSpecs(a GatewayArgs) map[string]map[string]any {
	a = a.withDefaults()
	parent := func(section string) []any {
		return []any{map[string]any{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": a.Name, "sectionName": section}}
	}
	specs := map[string]map[string]any{}
	var hosts []any
	for _, r := range a.Routes {
		hosts = append(hosts, r.Host)
		specs[r.Name] = map[string]any{
			"parentRefs": parent(r.Name),
			"hostnames":  []any{r.Host},
			"rules": []any{map[string]any{
				"matches":     []any{map[string]any{"path": map[string]any{"type": "PathPrefix", "value": "/"}}},
				"backendRefs": []any{map[string]any{"group": "", "kind": "Service", "name": r.Service, "port": r.Port}},
			}},
		}
	}
	specs[HTTPListener] = map[string]any{
		"parentRefs": parent(HTTPListener),
		"hostnames":  hosts,
		"rules": []any{map[string]any{"filters": []any{map[string]any{
			"type":            "RequestRedirect",
			"requestRedirect": map[string]any{"scheme": "https", "statusCode": 301},
		}}}},
	}
	return specs
}

// RouteName is the HTTPRoute object's name for a route (or HTTPListener for the redirect).
func RouteName(gateway, route string) string {
	if route == HTTPListener {
		return gateway + "-https-redirect"
	}
	return gateway + "-" + route
}

// NewGateway creates the Gateway and its HTTPRoutes. Pass the kubernetes provider in opts.
func NewGateway(ctx *pulumi.Context, name string, args GatewayArgs, opts ...pulumi.ResourceOption) (*Gateway, error) {
	a := args.withDefaults()
	if err := a.validate(); err != nil {
		return nil, err
	}
	component := &Gateway{Name: a.Name, Namespace: a.Namespace, Routes: map[string]*apiextensions.CustomResource{}}
	if err := ctx.RegisterComponentResource("stackauth:edge:Gateway", name, component, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(component)
	gw, err := k8sbase.CustomResource(ctx, name, k8sbase.Object{
		APIVersion: GatewayAPIVersion, Kind: "Gateway", Name: a.Name, Namespace: a.Namespace,
		// cert-manager's gateway-shim issues one certificate per listener Secret from this issuer.
		Annotations: map[string]string{"cert-manager.io/cluster-issuer": a.ClusterIssuer},
		Fields:      map[string]any{"spec": GatewaySpec(a)},
	}, a.GatewayAPIRelease, parent, pulumi.DependsOn(a.DependsOn))
	if err != nil {
		return nil, err
	}
	specs := RouteSpecs(a)
	for _, route := range append(routeNames(a.Routes), HTTPListener) {
		objectName := RouteName(a.Name, route)
		r, err := k8sbase.CustomResource(ctx, objectName, k8sbase.Object{
			APIVersion: GatewayAPIVersion, Kind: "HTTPRoute", Name: objectName, Namespace: a.Namespace,
			Fields: map[string]any{"spec": specs[route]},
		}, a.GatewayAPIRelease, parent, pulumi.DependsOn([]pulumi.Resource{gw}))
		if err != nil {
			return nil, err
		}
		component.Routes[route] = r
	}
	// cert-manager answers the listeners' HTTP-01 challenges from solver pods it starts in this namespace (label
	// acme.cert-manager.io/http01-solver, port 8089); in a namespace that denies by default, the proxies need this.
	if _, err := networkingv1.NewNetworkPolicy(ctx, name+"-acme-solver", &networkingv1.NetworkPolicyArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(a.Name + "-acme-http01-solver"), Namespace: pulumi.String(a.Namespace)},
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{acmeSolverLabel: pulumi.String("true")}},
			PolicyTypes: pulumi.ToStringArray([]string{"Ingress"}),
			Ingress: networkingv1.NetworkPolicyIngressRuleArray{&networkingv1.NetworkPolicyIngressRuleArgs{
				From: networkingv1.NetworkPolicyPeerArray{&networkingv1.NetworkPolicyPeerArgs{NamespaceSelector: &metav1.LabelSelectorArgs{
					MatchLabels: pulumi.StringMap{"kubernetes.io/metadata.name": pulumi.String(a.ProxyNamespace)},
				}}},
				Ports: networkingv1.NetworkPolicyPortArray{&networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String("TCP"), Port: pulumi.Int(acmeSolverPort)}},
			}},
		},
	}, parent); err != nil {
		return nil, err
	}
	component.Resource = gw
	if err := ctx.RegisterResourceOutputs(component, pulumi.Map{
		"name": pulumi.String(a.Name), "namespace": pulumi.String(a.Namespace),
	}); err != nil {
		return nil, err
	}
	return component, nil
}

func routeNames(routes []Route) []string {
	names := make([]string, len(routes))
	for i, r := range routes {
		names[i] = r.Name
	}
	return names
}
