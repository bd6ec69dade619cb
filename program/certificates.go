package program

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/stackauth-platform/infra/components/certmanager"
	"github.com/stackauth-platform/infra/components/edge"
	"github.com/stackauth-platform/infra/config"
)

// certificates installs cert-manager (after the Gateway API CRDs) with the Let's Encrypt ClusterIssuers, solving
// HTTP-01 on the edge Gateway's plain-HTTP listener. Production certificates come from letsencrypt-prod, every
// other stack's from letsencrypt-staging.
func certificates(ctx *pulumi.Context, cfg *config.Stack, p *Platform) error {
	args := certmanager.Args{
		HighAvailability: cfg.Production,
		ACME: &certmanager.ACME{
			Email:      cfg.AcmeEmail,
			Production: cfg.Production,
			Solver:     certmanager.GatewayListener{Gateway: edge.DefaultGatewayName, Namespace: p.Namespace.Name, SectionName: edge.HTTPListener},
		},
		GatewayAPIRelease: p.Edge.Release,
	}
	// Let's Encrypt cannot reach a local cluster's hosts: it gets a self-signed issuer.
	if cfg.Cloud == "local" {
		args.ACME, args.SelfSigned = nil, true
	}
	cm, err := certmanager.NewCertManager(ctx, "cert-manager", args, pulumi.Provider(p.Kubernetes))
	if err != nil {
		return err
	}
	p.Certificates = cm
	return nil
}
