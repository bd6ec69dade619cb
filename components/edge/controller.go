// Package edge is the stack's way in from the internet, on Gateway API (ingress-nginx is retired): Envoy Gateway as
// the implementation (Controller: its release, the GatewayClass, the proxies' EnvoyProxy settings and their
// load balancer), and the stack's Gateway with its HTTPS listeners and routes (Gateway).
package edge

import (
	"errors"
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/stackauth-platform/infra/components/k8sbase"
	"github.com/stackauth-platform/infra/components/namespace"
)

// Chart is the pinned Envoy Gateway chart. It installs the Gateway API CRDs (standard channel, v1.6) and Envoy
// Gateway's own (EnvoyProxy, ...) from its crds subchart.
var Chart = k8sbase.Chart{Name: "oci://docker.io/envoyproxy/gateway-helm", Version: "v1.9.1"}

// API versions the pinned chart serves.
const (
	GatewayAPIVersion    = "gateway.networking.k8s.io/v1"
	EnvoyProxyAPIVersion = "gateway.envoyproxy.io/v1alpha1"
	// ControllerName is the controller Envoy Gateway registers for its GatewayClasses (the chart's default).
	ControllerName = "gateway.envoyproxy.io/gatewayclass-controller"
)

// Defaults for optional args.
const (
	DefaultNamespace = "envoy-gateway-system"
	DefaultClassName = "envoy-gateway"
)

// ProxyPodLabels are labels Envoy Gateway puts on every proxy pod it runs.
var ProxyPodLabels = map[string]string{"app.kubernetes.io/name": "envoy", "app.kubernetes.io/component": "proxy"}

// ControllerArgs configure Envoy Gateway and the proxies it runs for every Gateway of the class.
type ControllerArgs struct {
	// Namespace runs the controller and, as Envoy Gateway does by default, the proxies of every Gateway (default
	// envoy-gateway-system); the component creates it. Workloads behind the edge admit traffic from here.
	Namespace string
	// ClassName is the GatewayClass the component creates (default envoy-gateway).
	ClassName string
	// HighAvailability runs two controller replicas with a disruption budget.
	HighAvailability bool
	// Service shapes the proxies' Service: the load balancer in front of the edge.
	Service ServiceArgs
	// ProxyReplicas bound the proxies' HorizontalPodAutoscaler.
	ProxyReplicas ReplicaBounds
	// ProxyResources of each proxy container; Requests.CPU, Requests.Memory and Limits.Memory are required
	// (no CPU limit: Envoy is latency-sensitive and CFS throttling shows up as tail latency).
	ProxyResources Resources
}

// ServiceArgs are the type and annotations of the proxies' Service.
type ServiceArgs struct {
	// Type is LoadBalancer (default) or NodePort.
	Type string
	// Annotations tell the cloud's load balancer controller what to build.
	Annotations map[string]string
}

// ReplicaBounds are an HPA's minimum and maximum.
type ReplicaBounds struct{ Min, Max int }

// Resources are a container's requests and memory limit.
type Resources struct {
	CPURequest, MemoryRequest, MemoryLimit string
}

// AWSNetworkLoadBalancer is the Service for an internet-facing AWS network load balancer made by the AWS Load
// Balancer Controller: IP targets (straight to the proxy pods, no node hop), cross-zone balancing, and the client's
// address preserved so the proxies see, and append to X-Forwarded-For, the real client IP the rate limiter keys on.
func AWSNetworkLoadBalancer() ServiceArgs {
	return ServiceArgs{Type: "LoadBalancer", Annotations: map[string]string{
		"service.beta.kubernetes.io/aws-load-balancer-type":                    "external",
		"service.beta.kubernetes.io/aws-load-balancer-nlb-target-type":         "ip",
		"service.beta.kubernetes.io/aws-load-balancer-scheme":                  "internet-facing",
		"service.beta.kubernetes.io/aws-load-balancer-attributes":              "load_balancing.cross_zone.enabled=true",
		"service.beta.kubernetes.io/aws-load-balancer-target-group-attributes": "preserve_client_ip.enabled=true",
	}}
}

// Controller is Envoy Gateway with its GatewayClass.
type Controller struct {
	pulumi.ResourceState

	// Release installs Envoy Gateway and the Gateway API CRDs: Gateways, HTTPRoutes and the issuers that solve
	// through them wait for it.
	Release *helmv3.Release
	// ClassName is the GatewayClass for the stack's Gateway.
	ClassName string
	// Class is the GatewayClass resource.
	Class *apiextensions.CustomResource
	// ProxyNamespace is where the edge proxies run: the source to admit in NetworkPolicies behind the edge.
	ProxyNamespace string
}

func (a ControllerArgs) withDefaults() ControllerArgs {
	if a.Namespace == "" {
		a.Namespace = DefaultNamespace
	}
	if a.ClassName == "" {
		a.ClassName = DefaultClassName
	}
	if a.Service.Type == "" {
		a.Service.Type = "LoadBalancer"
	}
	return a
}

func (a ControllerArgs) validate() error {
	var errs []error
	bad := func(format string, v ...any) { errs = append(errs, fmt.Errorf("edge: "+format, v...)) }
	errs = append(errs, k8sbase.NameErrors("edge", k8sbase.NameField{Field: "Namespace", Value: a.Namespace}, k8sbase.NameField{Field: "ClassName", Value: a.ClassName})...)
	if a.Service.Type != "LoadBalancer" && a.Service.Type != "NodePort" {
		bad("args.Service.Type %q: use LoadBalancer (a cloud load balancer) or NodePort", a.Service.Type)
	}
	if r := a.ProxyReplicas; r.Min < 1 || r.Max < r.Min {
		bad("args.ProxyReplicas {Min: %d, Max: %d} is not a range: need 1 <= Min <= Max (at least 2 in production)", r.Min, r.Max)
	}
	for _, f := range []struct{ field, value string }{
		{"CPURequest", a.ProxyResources.CPURequest}, {"MemoryRequest", a.ProxyResources.MemoryRequest}, {"MemoryLimit", a.ProxyResources.MemoryLimit},
	} {
		if q, err := resource.ParseQuantity(f.value); err != nil || q.Sign() <= 0 {
			bad("args.ProxyResources.%s %q is not a positive quantity: write it like \"250m\" or \"512Mi\"", f.field, f.value)
		}
	}
	if req, err1 := resource.ParseQuantity(a.ProxyResources.MemoryRequest); err1 == nil {
		if lim, err2 := resource.ParseQuantity(a.ProxyResources.MemoryLimit); err2 == nil && req.Cmp(lim) > 0 {
			bad("args.ProxyResources.MemoryRequest %s is above MemoryLimit %s", req.String(), lim.String())
		}
	}
	return errors.Join(errs...)
}

// ControllerValues are the Envoy Gateway chart's values: its CRDs installed, and in HA two controller replicas
// (they elect a leader) kept through node drains.
func ControllerValues(a ControllerArgs) map[string]any {
	replicas, minAvailable := 1, 0
	if a.HighAvailability {
		replicas, minAvailable = 2, 1
	}
	return map[string]any{
		"crds":                map[string]any{"enabled": true},
		"deployment":          map[string]any{"replicas": replicas},
		"podDisruptionBudget": map[string]any{"minAvailable": minAvailable},
	}
}

// EnvoyProxySpec is the spec of the EnvoyProxy the GatewayClass points at: how Envoy Gateway runs the proxies of
// every Gateway of the class.
func EnvoyProxySpec(a ControllerArgs) map[string]any {
	a = a.withDefaults()
	service := map[string]any{"type": a.Service.Type}
	if len(a.Service.Annotations) > 0 {
		service["annotations"] = stringMap(a.Service.Annotations)
	}
	return map[string]any{"provider": map[string]any{
		"type": "Kubernetes",
		"kubernetes": map[string]any{
			"envoyService": service,
			"envoyDeployment": map[string]any{
				"container": map[string]any{"resources": map[string]any{
					"requests": map[string]any{"cpu": a.ProxyResources.CPURequest, "memory": a.ProxyResources.MemoryRequest},
					"limits":   map[string]any{"memory": a.ProxyResources.MemoryLimit},
				}},
				// Spread the proxies over zones so losing one zone keeps the edge up.
				"pod": map[string]any{"topologySpreadConstraints": []any{map[string]any{
					"maxSkew":           1,
					"topologyKey":       "topology.kubernetes.io/zone",
					"whenUnsatisfiable": "ScheduleAnyway",
					"labelSelector":     map[string]any{"matchLabels": stringMap(ProxyPodLabels)},
					"matchLabelKeys":    []any{"pod-template-hash"},
				}}},
			},
			"envoyHpa": map[string]any{"minReplicas": a.ProxyReplicas.Min, "maxReplicas": a.ProxyReplicas.Max},
			"envoyPDB": map[string]any{"minAvailable": 1},
		},
	}}
}

// NewController installs Envoy Gateway, its EnvoyProxy settings and the GatewayClass. Pass the kubernetes provider
// in opts.
func NewController(ctx *pulumi.Context, name string, args ControllerArgs, opts ...pulumi.ResourceOption) (*Controller, error) {
	a := args.withDefaults()
	if err := a.validate(); err != nil {
		return nil, err
	}
	component := &Controller{ClassName: a.ClassName, ProxyNamespace: a.Namespace}
	if err := ctx.RegisterComponentResource("stackauth:edge:Controller", name, component, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(component)
	// Envoy proxy pods are not guaranteed to meet restricted; they are admitted at baseline and warned about.
	ns, err := namespace.NewNamespace(ctx, name+"-namespace", namespace.Args{Name: a.Namespace, Enforce: namespace.Baseline}, parent)
	if err != nil {
		return nil, err
	}
	release, err := k8sbase.Release(ctx, name, k8sbase.ReleaseArgs{
		Chart: Chart, ReleaseName: "envoy-gateway", Namespace: a.Namespace, Values: ControllerValues(a),
	}, parent, pulumi.DependsOn([]pulumi.Resource{ns.Resource}))
	if err != nil {
		return nil, err
	}
	proxy, err := k8sbase.CustomResource(ctx, name+"-proxy", k8sbase.Object{
		APIVersion: EnvoyProxyAPIVersion, Kind: "EnvoyProxy", Name: a.ClassName, Namespace: a.Namespace,
		Fields: map[string]any{"spec": EnvoyProxySpec(a)},
	}, release, parent)
	if err != nil {
		return nil, err
	}
	class, err := k8sbase.CustomResource(ctx, name+"-class", k8sbase.Object{
		APIVersion: GatewayAPIVersion, Kind: "GatewayClass", Name: a.ClassName,
		Fields: map[string]any{"spec": map[string]any{
			"controllerName": ControllerName,
			"description":    "Envoy Gateway proxies behind the stack's load balancer",
			"parametersRef": map[string]any{
				"group": "gateway.envoyproxy.io", "kind": "EnvoyProxy", "name": a.ClassName, "namespace": a.Namespace,
			},
		}},
	}, release, parent, pulumi.DependsOn([]pulumi.Resource{proxy}))
	if err != nil {
		return nil, err
	}
	component.Release = release
	component.Class = class
	if err := ctx.RegisterResourceOutputs(component, pulumi.Map{
		"className":      pulumi.String(a.ClassName),
		"proxyNamespace": pulumi.String(a.Namespace),
	}); err != nil {
		return nil, err
	}
	return component, nil
}

func stringMap(in map[string]string) map[string]any {
	out := make(map[string]any, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}
