package program

import (
	"fmt"
	"strconv"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/stackauth-platform/infra/components/network"
	"github.com/stackauth-platform/infra/components/ratelimitgateway"
	"github.com/stackauth-platform/infra/components/stackauth"
	"github.com/stackauth-platform/infra/config"
)

// stackAuth releases charts/stack-backend with values computed from the stack's config. It waits for the resource
// that makes stack-backend-secrets (the ExternalSecret), so the pods never start without their secret env.
func stackAuth(ctx *pulumi.Context, cfg *config.Stack, p *Platform) error {
	databaseCIDRs := privateRanges
	if cfg.Cloud == "aws" {
		var err error
		if _, databaseCIDRs, err = network.SubnetCIDRs(cfg.Network.CIDR, cfg.Network.AZCount); err != nil {
			return fmt.Errorf("stackauth: database subnets: %w", err)
		}
	}
	release, err := stackauth.NewRelease(ctx, "stack-auth", stackauth.Args{
		Namespace:     p.Namespace.Name,
		Image:         stackauth.Image{Repository: cfg.App.ImageRepository, Tag: cfg.App.ImageTag},
		APIHost:       cfg.APIHost,
		DashboardHost: cfg.DashboardHost,
		Replicas:      stackauth.ReplicaBounds{Min: cfg.App.MinReplicas, Max: cfg.App.MaxReplicas},
		Resources: stackauth.Resources{
			Requests: stackauth.ResourceList{CPU: cfg.App.CPURequest, Memory: cfg.App.MemoryRequest},
			Limits:   stackauth.ResourceList{CPU: cfg.App.CPULimit, Memory: cfg.App.MemoryLimit},
		},
		ExtraEnv:         appSettingsEnv(cfg),
		GatewayPodLabels: rateLimitGatewayPodLabels,
		EdgeNamespace:    p.Edge.ProxyNamespace,
		DatabaseCIDRs:    databaseCIDRs,
		EmailPort:        cfg.Email.Port,
		SecretName:       p.AppSecretName,
		DependsOn:        []pulumi.Resource{p.Namespace.Resource, p.AppSecret},
	}, pulumi.Provider(p.Kubernetes))
	if err != nil {
		return err
	}
	p.StackAuth = release
	return nil
}

// rateLimitGatewayPodLabels are the labels of the rate-limit gateway's pods, the only callers the API port admits.
var rateLimitGatewayPodLabels = ratelimitgateway.PodLabels(rateLimitGatewayService)

// appSettingsEnv are the non-secret settings the Stack Auth image reads from env: the SMTP relay and the public
// halves of the OAuth apps, and the Node heap (NODE_OPTIONS). Their secret halves are in the Secrets Manager secret.
func appSettingsEnv(cfg *config.Stack) map[string]string {
	env := map[string]string{}
	set := func(name, value string) {
		if value != "" {
			env[name] = value
		}
	}
	set("STACK_EMAIL_HOST", cfg.Email.Host)
	if cfg.Email.Host != "" {
		set("STACK_EMAIL_PORT", strconv.Itoa(cfg.Email.Port))
	}
	set("STACK_EMAIL_USERNAME", cfg.Email.Username)
	set("STACK_EMAIL_SENDER", cfg.Email.Sender)
	set("STACK_GITHUB_CLIENT_ID", cfg.OAuth.GitHubClientID)
	set("STACK_GOOGLE_CLIENT_ID", cfg.OAuth.GoogleClientID)
	if cfg.Cloud == "local" {
		// A local stack seeds a dashboard you can sign up to; production dashboards stay closed.
		set("STACK_SEED_INTERNAL_PROJECT_SIGN_UP_ENABLED", "true")
		set("STACK_SEED_INTERNAL_PROJECT_ALLOW_LOCALHOST", "true")
	}
	set("NODE_OPTIONS", cfg.App.NodeOptions()) // the heap of both Node processes, checked against the limit (config/capacity.go)
	return env
}
