package program

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/stackauth-platform/infra/config"
)

// Platform collects what the in-cluster components provide to each other, so
// each can depend on what it needs (custom resources on the release that
// installs their CRDs, the app on the synced Secret, ...).
type Platform struct {
	// Kubernetes deploys into the stack's cluster.
	Kubernetes pulumi.ProviderResource
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
}

// inCluster deploys everything that runs on the cluster, in dependency order.
// Each concern lives in its own component; this function only wires them.
func inCluster(ctx *pulumi.Context, cfg *config.Stack, f *Foundation) (*Platform, error) {
	p := &Platform{Kubernetes: f.Cluster.Provider}
	return p, nil
}
