package edge

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

type fakeRelease struct{ pulumi.CustomResourceState }

func gatewayArgs() GatewayArgs {
	return GatewayArgs{
		Namespace: "stack-auth-prod", ClassName: DefaultClassName, ClusterIssuer: "letsencrypt-prod", ProxyNamespace: DefaultNamespace,
		Routes: []Route{
			{Name: "api", Host: "api.example.com", Service: pulumi.String("ratelimit-gateway"), Port: 8080},
			{Name: "dashboard", Host: "dashboard.example.com", Service: pulumi.String("stack-backend"), Port: 8101},
		},
		GatewayAPIRelease: &fakeRelease{},
	}
}

func controllerArgs() ControllerArgs {
	return ControllerArgs{
		ProxyReplicas:  ReplicaBounds{Min: 2, Max: 4},
		ProxyResources: Resources{CPURequest: "250m", MemoryRequest: "256Mi", MemoryLimit: "1Gi"},
	}.withDefaults()
}

func TestGatewayArgsErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		change func(a *GatewayArgs)
		want   string
	}{
		{func(a *GatewayArgs) { a.ClusterIssuer = "" }, "args.ClusterIssuer"},
		{func(a *GatewayArgs) { a.ProxyNamespace = "" }, "args.ProxyNamespace"},
		{func(a *GatewayArgs) { a.Routes[1].Host = a.Routes[0].Host }, "args.Routes[1].Host"},
		{func(a *GatewayArgs) { a.Routes[0].Name = HTTPListener }, "args.Routes[0].Name"},
		{func(a *GatewayArgs) { a.Routes[0].Service = nil }, "args.Routes[0].Service is nil"},
		{func(a *GatewayArgs) { a.Routes[1].Port = 0 }, "args.Routes[1].Port"},
		{func(a *GatewayArgs) { a.Routes = nil }, "args.Routes is empty"},
		{func(a *GatewayArgs) { a.GatewayAPIRelease = nil }, "args.GatewayAPIRelease"},
	} {
		a := gatewayArgs()
		tc.change(&a)
		if err := a.withDefaults().validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error naming %s", err, tc.want)
		}
	}
	if err := gatewayArgs().withDefaults().validate(); err != nil {
		t.Fatalf("valid args: %v", err)
	}
}

func TestControllerArgsErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		change func(a *ControllerArgs)
		want   string
	}{
		{func(a *ControllerArgs) { a.ProxyReplicas = ReplicaBounds{Min: 3, Max: 2} }, "args.ProxyReplicas"},
		{func(a *ControllerArgs) { a.ProxyResources.MemoryLimit = "128Mi" }, "MemoryRequest 256Mi is above MemoryLimit 128Mi"},
		{func(a *ControllerArgs) { a.ProxyResources.CPURequest = "lots" }, "args.ProxyResources.CPURequest"},
		{func(a *ControllerArgs) { a.Service.Type = "ClusterIP" }, "args.Service.Type"},
		{func(a *ControllerArgs) { a.ClassName = "Envoy" }, "args.ClassName"},
	} {
		a := controllerArgs()
		tc.change(&a)
		if err := a.validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error naming %s", err, tc.want)
		}
	}
}

func TestRoutesSendEachHostToItsBackendAndRedirectHTTP(t *testing.T) {
	specs := RouteSpecs(gatewayArgs())
	if len(specs) != 3 {
		t.Fatalf("%d routes, want api, dashboard and the redirect", len(specs))
	}
	api := specs["api"]
	if got := api["parentRefs"].([]any)[0].(map[string]any)["sectionName"]; got != "api" {
		t.Errorf("api route attaches to listener %v, want its own HTTPS listener", got)
	}
	backend := api["rules"].([]any)[0].(map[string]any)["backendRefs"].([]any)[0].(map[string]any)
	if backend["port"] != 8080 {
		t.Errorf("api backend %v", backend)
	}
	redirect := specs[HTTPListener]
	if got := redirect["hostnames"].([]any); len(got) != 2 {
		t.Errorf("redirect covers hosts %v, want both", got)
	}
	filter := redirect["rules"].([]any)[0].(map[string]any)["filters"].([]any)[0].(map[string]any)
	if filter["requestRedirect"].(map[string]any)["scheme"] != "https" {
		t.Errorf("redirect filter %v", filter)
	}
	if RouteName("edge", HTTPListener) != "edge-https-redirect" || RouteName("edge", "api") != "edge-api" {
		t.Error("route object names changed")
	}
}

func TestEnvoyProxyServiceFollowsTheLoadBalancerChoice(t *testing.T) {
	a := controllerArgs()
	a.Service = AWSNetworkLoadBalancer()
	aws := EnvoyProxySpec(a)["provider"].(map[string]any)["kubernetes"].(map[string]any)["envoyService"].(map[string]any)
	annotations := aws["annotations"].(map[string]any)
	for k, want := range map[string]string{
		"service.beta.kubernetes.io/aws-load-balancer-type":            "external",
		"service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
		"service.beta.kubernetes.io/aws-load-balancer-scheme":          "internet-facing",
		"service.beta.kubernetes.io/aws-load-balancer-attributes":      "load_balancing.cross_zone.enabled=true",
	} {
		if annotations[k] != want {
			t.Errorf("%s = %v, want %s", k, annotations[k], want)
		}
	}
	// A cluster without the AWS controller (local) gets a plain LoadBalancer Service.
	plain := EnvoyProxySpec(controllerArgs())["provider"].(map[string]any)["kubernetes"].(map[string]any)["envoyService"].(map[string]any)
	if _, ok := plain["annotations"]; ok || plain["type"] != "LoadBalancer" {
		t.Errorf("plain service %v", plain)
	}
}
