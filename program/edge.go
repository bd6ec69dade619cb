package program

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/stackauth-platform/infra/components/edge"
	"github.com/stackauth-platform/infra/components/ratelimitgateway"
	"github.com/stackauth-platform/infra/components/stackauth"
	"github.com/stackauth-platform/infra/config"
)

// The rate-limit gateway's Service (components/ratelimitgateway): the API host's traffic goes through it, never
// straight to Stack Auth.
const (
	rateLimitGatewayService = ratelimitgateway.DefaultName
	rateLimitGatewayPort    = ratelimitgateway.HTTPPort
)

// edgeController installs Envoy Gateway (and with it the Gateway API CRDs) and the GatewayClass whose proxies sit
// behind the stack's load balancer. Production runs the controller in HA and more proxies.
func edgeController(ctx *pulumi.Context, cfg *config.Stack, p *Platform) error {
	service := edge.ServiceArgs{Type: "LoadBalancer"}
	if cfg.Cloud == "aws" {
		service = edge.AWSNetworkLoadBalancer()
	}
	proxies := edge.ReplicaBounds{Min: 2, Max: 4}
	if cfg.Production {
		proxies = edge.ReplicaBounds{Min: 3, Max: 12}
	}
	controller, err := edge.NewController(ctx, "edge", edge.ControllerArgs{
		HighAvailability: cfg.Production,
		Service:          service,
		ProxyReplicas:    proxies,
		ProxyResources:   edge.Resources{CPURequest: "250m", MemoryRequest: "256Mi", MemoryLimit: "1Gi"},
	}, pulumi.Provider(p.Kubernetes))
	if err != nil {
		return err
	}
	p.Edge = controller
	p.EdgeNamespace = controller.ProxyNamespace
	return nil
}

// edgeGateway creates the stack's Gateway: the API host to the rate-limit gateway, the dashboard host straight to
// the dashboard port of Stack Auth, plain HTTP redirected to HTTPS, certificates from the stack's ClusterIssuer.
func edgeGateway(ctx *pulumi.Context, cfg *config.Stack, p *Platform) error {
	waitFor := []pulumi.Resource{p.Namespace.Resource, p.Edge.Class, p.Certificates.Issuer}
	if p.LoadBalancerController != nil {
		// Envoy Gateway makes the Gateway's LoadBalancer Service: the controller that gives it its NLB is up first.
		waitFor = append(waitFor, p.LoadBalancerController)
	}
	gw, err := edge.NewGateway(ctx, "edge-gateway", edge.GatewayArgs{
		Namespace:     p.Namespace.Name,
		ClassName:     p.Edge.ClassName,
		ClusterIssuer: p.Certificates.IssuerName,
		// cert-manager's solver pods in the app namespace are reached from the proxies.
		ProxyNamespace: p.EdgeNamespace,
		Routes: []edge.Route{
			{Name: "api", Host: cfg.APIHost, Service: pulumi.String(rateLimitGatewayService), Port: rateLimitGatewayPort},
			{Name: "dashboard", Host: cfg.DashboardHost, Service: p.StackAuth.ServiceName, Port: stackauth.DashboardPort},
		},
		GatewayAPIRelease: p.Edge.Release,
		DependsOn:         waitFor,
	}, pulumi.Provider(p.Kubernetes))
	if err != nil {
		return err
	}
	p.Gateway = gw
	return nil
}
