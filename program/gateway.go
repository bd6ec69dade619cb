package program

import (
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/stackauth-platform/infra/components/gatewayimage"
	"github.com/stackauth-platform/infra/components/localdata"
	"github.com/stackauth-platform/infra/components/network"
	"github.com/stackauth-platform/infra/components/ratelimitgateway"
	"github.com/stackauth-platform/infra/config"
	"github.com/stackauth-platform/infra/internal/ociimage"
	"github.com/stackauth-platform/infra/ratelimit/rules"
)

// sourceURL is the repository the gateway image is built from, for its source label.
const sourceURL = "https://github.com/stackauth-platform/infra"

// GatewayImagePublisher makes the gateway image during `pulumi up`: by default, built from this checkout (the
// project directory) and pushed to the stack's ECR repository. Tests replace it, so that no test builds the real
// binary or reaches a registry unless it means to.
var GatewayImagePublisher = func(ctx *pulumi.Context, cfg *config.Stack) gatewayimage.Publisher {
	return gatewayimage.Publisher{Build: gatewayimage.FromSource(ctx, gatewayimage.Source{
		ModuleDir: ".", URL: sourceURL, Version: cfg.Gateway.ImageVersion,
	})}
}

// rateLimitGateway builds and pushes the gateway image (up only) and runs the gateway between the edge and the
// Stack Auth API.
func rateLimitGateway(ctx *pulumi.Context, cfg *config.Stack, f *Foundation, p *Platform) error {
	image, err := gatewayImage(ctx, cfg, f)
	if err != nil {
		return err
	}

	rulesYAML, err := gatewayRules(cfg)
	if err != nil {
		return err
	}
	// The gateway's pods, the edge's Envoy pods and ElastiCache all sit in the private subnets (vpc-cni gives pods
	// VPC addresses). The edge is the only source NetworkPolicy admits to the traffic port, so every peer the gateway
	// sees is an Envoy pod, and trusting the private subnets for X-Forwarded-For trusts the edge alone; the public
	// subnets, where the load balancer's addresses are, stay untrusted.
	// On a local cluster the pod network is unknown ahead, so the private ranges stand in for it.
	private, redisPort := privateRanges, localdata.RedisPort
	if cfg.Cloud == "aws" {
		if _, private, err = network.SubnetCIDRs(cfg.Network.CIDR, cfg.Network.AZCount); err != nil {
			return err
		}
		redisPort = f.Cache.Port
	}
	var monitor *ratelimitgateway.ServiceMonitor
	if p.Monitoring != nil {
		monitor = &ratelimitgateway.ServiceMonitor{Namespace: p.MonitoringNamespace, Labels: p.MonitorLabels, Release: p.Monitoring}
	}
	_, err = ratelimitgateway.NewGateway(ctx, "ratelimit-gateway", ratelimitgateway.Args{
		Namespace: p.Namespace.Name,
		Image:     image,
		Replicas:  ratelimitgateway.ReplicaBounds{Min: cfg.Gateway.MinReplicas, Max: cfg.Gateway.MaxReplicas},
		Resources: ratelimitgateway.Resources{
			Requests: ratelimitgateway.ResourceList{CPU: cfg.Gateway.CPURequest, Memory: cfg.Gateway.MemoryRequest},
			Limits:   ratelimitgateway.ResourceList{CPU: cfg.Gateway.CPULimit, Memory: cfg.Gateway.MemoryLimit},
		},
		Upstream: ratelimitgateway.Upstream{
			URL:       p.StackAuth.APIServiceURL,
			PodLabels: p.StackAuth.ServerPodLabels,
			Port:      p.StackAuth.APIPort,
		},
		PublicAPIURL:          cfg.APIURL(),
		ProjectID:             cfg.Gateway.ProjectID,
		SecretName:            p.AppSecretName,
		TrustedProxies:        private,
		MaxConcurrentRequests: cfg.Gateway.MaxConcurrentRequests,
		Rules:                 rulesYAML,
		EdgeNamespace:         p.Edge.ProxyNamespace,
		RedisCIDRs:            private,
		RedisPort:             redisPort,
		ServiceMonitor:        monitor,
		DependsOn:             []pulumi.Resource{p.Namespace.Resource, p.AppSecret},
	}, pulumi.Providers(p.Kubernetes))
	return err
}

// gatewayImage is the image the gateway runs: on AWS built from this checkout and pushed to the stack's ECR
// repository during up (by digest); on a local stack the prebuilt image stackauth:gatewayImage names.
func gatewayImage(ctx *pulumi.Context, cfg *config.Stack, f *Foundation) (pulumi.StringInput, error) {
	if cfg.Cloud == "local" {
		return pulumi.String(cfg.Local.GatewayImage), nil
	}
	image, err := gatewayimage.NewImage(ctx, "gateway-image", gatewayimage.Args{
		RepositoryName: "stackauth-" + cfg.Name + "/ratelimit",
		Platforms:      len(ociimage.DefaultPlatforms()),
		ForceDelete:    !cfg.Production,
		Publisher:      GatewayImagePublisher(ctx, cfg),
		Tags:           map[string]string{"stackauth:stack": cfg.Name},
	}, pulumi.Providers(f.AWS))
	if err != nil {
		return nil, err
	}
	return image.Ref, nil
}

// gatewayRules reads and checks stackauth:gatewayRulesFile; unset means the built-in rules.
func gatewayRules(cfg *config.Stack) ([]byte, error) {
	if cfg.Gateway.RulesFile == "" {
		return nil, nil
	}
	key := config.FullKey("gatewayRulesFile")
	b, err := os.ReadFile(cfg.Gateway.RulesFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w; give a rules file relative to the project directory, or unset it for the built-in rules", key, err)
	}
	if _, err := rules.Parse(b); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", key, cfg.Gateway.RulesFile, err)
	}
	return b, nil
}
