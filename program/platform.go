package program

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/stackauth-platform/infra/components/certmanager"
	"github.com/stackauth-platform/infra/components/edge"
	"github.com/stackauth-platform/infra/components/namespace"
	"github.com/stackauth-platform/infra/components/stackauth"
	"github.com/stackauth-platform/infra/config"
)

// Platform collects what the in-cluster components provide to each other, so
// each can depend on what it needs (custom resources on the release that
// installs their CRDs, the app on the synced Secret, ...).
type Platform struct {
	// Kubernetes deploys into the stack's cluster.
	Kubernetes pulumi.ProviderResource
	// LoadBalancerController is the AWS Load Balancer Controller's release (nil when addonLoadBalancerController
	// is off): a LoadBalancer Service depends on it, so the controller and its webhook are up when it is created.
	LoadBalancerController pulumi.Resource
	// Namespace is the stack's app namespace (stack-auth-<stack>, Pod Security restricted).
	Namespace *namespace.Namespace
	// Edge is Envoy Gateway: its Release installs the Gateway API CRDs; ProxyNamespace is where the edge proxies
	// run, the source NetworkPolicies behind the edge admit.
	Edge *edge.Controller
	// EdgeNamespace is Edge.ProxyNamespace: where the edge proxies run.
	EdgeNamespace string
	// Certificates is cert-manager; IssuerName is the ClusterIssuer of the stack's certificates.
	Certificates *certmanager.CertManager
	// SecretStore names the SecretStore in the app namespace that reads the stack's Secrets Manager secret.
	SecretStore string
	// AppSecretName is the Secret holding the secret env (stack-backend-secrets); AppSecret is the resource that
	// makes it (the ExternalSecret): workloads reading the Secret depend on it.
	AppSecretName string
	AppSecret     pulumi.Resource
	// StackAuth is the stack-backend release (Service name and ports for the routes and the gateway's upstream).
	StackAuth *stackauth.Release
	// Gateway is the stack's Gateway with its HTTPRoutes.
	Gateway *edge.Gateway
	// ExternalSecrets is the External Secrets Operator release; every
	// SecretStore and ExternalSecret depends on it because it installs their CRDs.
	ExternalSecrets pulumi.Resource

	// Monitoring is the kube-prometheus-stack release; ServiceMonitors and
	// PrometheusRules depend on it because it installs their CRDs.
	Monitoring pulumi.Resource
	// MonitorLabels are the labels Prometheus selects ServiceMonitors and
	// PrometheusRules by: put them on every one the project creates.
	MonitorLabels map[string]string
	// OTLPEndpoint is the OpenTelemetry Collector's OTLP/HTTP endpoint for
	// OTEL_EXPORTER_OTLP_ENDPOINT; empty when enableTelemetry is off.
	OTLPEndpoint string
	// MonitoringNamespace is where Prometheus runs: workloads admit scrapes of their metrics port from there.
	MonitoringNamespace string
}

// inCluster deploys everything that runs on the cluster, in dependency order.
// Each concern lives in its own component; this function only wires them.
func inCluster(ctx *pulumi.Context, cfg *config.Stack, f *Foundation) (*Platform, error) {
	p := &Platform{Kubernetes: f.Kubernetes}
	if err := clusterAddons(ctx, cfg, f, p); err != nil {
		return nil, err
	}
	if err := appNamespace(ctx, cfg, p); err != nil {
		return nil, err
	}
	if err := edgeController(ctx, cfg, p); err != nil {
		return nil, err
	}
	if err := certificates(ctx, cfg, p); err != nil {
		return nil, err
	}
	syncSecrets := secretsSync
	if cfg.Cloud == "local" {
		syncSecrets = localSecrets
	}
	if err := syncSecrets(ctx, cfg, f, p); err != nil {
		return nil, err
	}
	if err := observability(ctx, cfg, f, p); err != nil {
		return nil, err
	}
	if err := stackAuth(ctx, cfg, p); err != nil {
		return nil, err
	}
	if err := edgeGateway(ctx, cfg, p); err != nil {
		return nil, err
	}
	if err := rateLimitGateway(ctx, cfg, f, p); err != nil {
		return nil, err
	}
	return p, nil
}
