package program

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/stackauth-platform/infra/components/externalsecrets"
	"github.com/stackauth-platform/infra/components/monitoring"
	"github.com/stackauth-platform/infra/components/stackauth"
	"github.com/stackauth-platform/infra/config"
)

// secretsSync installs External Secrets Operator and syncs the stack's Secrets Manager secret into the app
// namespace as stack-backend-secrets, re-read every hour. The reader role may read that one secret only.
func secretsSync(ctx *pulumi.Context, cfg *config.Stack, f *Foundation, p *Platform) error {
	eso, err := externalsecrets.NewOperator(ctx, "external-secrets", externalsecrets.Args{
		HighAvailability:     cfg.Production,
		AppNamespace:         p.Namespace.Name,
		AppNamespaceResource: p.Namespace.Resource,
		TargetSecret:         stackauth.DefaultSecretName,
		Keys:                 appSecretKeys(f.Secrets.Keys),
		Source: externalsecrets.SecretsManagerSource{
			Region:          cfg.Region,
			SecretARN:       f.Secrets.ARN,
			KMSKeyARN:       f.Secrets.KMSKeyARN,
			OIDCProviderARN: f.Cluster.OIDCProviderARN,
			OIDCIssuerURL:   f.Cluster.OIDCIssuerURL,
			Tags:            map[string]string{"stackauth:stack": cfg.Name},
		},
	}, pulumi.Providers(f.AWS, p.Kubernetes))
	if err != nil {
		return err
	}
	p.ExternalSecrets = eso.Release
	p.SecretStore = eso.StoreName
	p.AppSecretName = eso.SecretName
	p.AppSecret = eso.ExternalSecret
	return nil
}

// appSecretKeys are the keys of the stack's secret that the app namespace gets: all but the ones other
// namespaces sync for themselves (Grafana's admin password goes to the monitoring namespace only).
func appSecretKeys(all []string) []string {
	var keys []string
	for _, k := range all {
		if k != monitoring.GrafanaPasswordKey {
			keys = append(keys, k)
		}
	}
	return keys
}
