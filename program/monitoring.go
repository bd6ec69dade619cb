package program

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/stackauth-platform/infra/components/edge"
	"github.com/stackauth-platform/infra/components/externalsecrets"
	"github.com/stackauth-platform/infra/components/k8sbase"
	"github.com/stackauth-platform/infra/components/monitoring"
	"github.com/stackauth-platform/infra/config"
)

// edgeDashboardsChart is Envoy Gateway's add-ons chart, at the edge's own version: it ships the edge's dashboards.
var edgeDashboardsChart = k8sbase.Chart{Name: "oci://docker.io/envoyproxy/gateway-addons-helm", Version: edge.Chart.Version}

// observability deploys Prometheus, Grafana, the exporters, alerts and dashboards (and tracing when
// stackauth:enableTelemetry is on), and tells the workloads wired after it how to be scraped and where to send
// traces. It reads its credentials through the app namespace's External Secrets reader. stackauth:monitoring off
// (local stacks) skips all of it.
func observability(ctx *pulumi.Context, cfg *config.Stack, f *Foundation, p *Platform) error {
	if !cfg.Monitoring.Enabled {
		// Platform.Monitoring stays nil: the workloads then register no monitors.
		return nil
	}
	stack, err := monitoring.NewStack(ctx, "monitoring", monitoring.Args{
		HighAvailability: cfg.Production,
		Retention:        cfg.Monitoring.Retention,
		StorageSize:      cfg.Monitoring.StorageSize,
		StorageClass:     "gp3", // the cluster component's encrypted default class
		Secrets: monitoring.SecretSource{
			Release:                 p.ExternalSecrets,
			APIVersion:              externalsecrets.APIVersion,
			Region:                  cfg.Region,
			SecretARN:               f.Secrets.ARN,
			ServiceAccount:          externalsecrets.DefaultReaderAccount,
			ServiceAccountNamespace: p.Namespace.Name,
		},
		Rules: monitoring.RuleArgs{
			GatewayJob:     rateLimitGatewayService,
			AppNamespace:   p.Namespace.Name,
			MaxConnections: cfg.Database.MaxConnections,
			RunbookURL:     cfg.Monitoring.RunbookURL,
		},
		EdgeDashboards: edgeDashboardsChart,
		EdgeNamespace:  p.Edge.ProxyNamespace,
		Telemetry:      cfg.Monitoring.Telemetry,
	}, pulumi.Providers(p.Kubernetes))
	if err != nil {
		return err
	}
	p.Monitoring = stack.Release
	p.MonitorLabels = stack.SelectorLabels
	p.MonitoringNamespace = stack.Namespace
	p.OTLPEndpoint = stack.OTLPEndpoint
	return nil
}
