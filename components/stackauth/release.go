package stackauth

import (
	"fmt"
	"path/filepath"

	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Release is Stack Auth on the cluster: one helm/v3 Release of charts/stack-backend. Its outputs tell the edge and
// the rate-limit gateway where to route.
type Release struct {
	pulumi.ResourceState

	// Helm is the underlying release; depend on it to wait for the rollout.
	Helm *helmv3.Release
	// Namespace holds every object of the release.
	Namespace pulumi.StringOutput
	// ServiceName is the one Service with both ports.
	ServiceName pulumi.StringOutput
	// APIPort (8102) is the Service port the gateway sends API traffic to.
	APIPort pulumi.IntOutput
	// DashboardPort (8101) is the Service port the edge sends dashboard traffic to.
	DashboardPort pulumi.IntOutput
	// APIServiceURL is the in-cluster base URL of the API, the gateway's upstream.
	APIServiceURL pulumi.StringOutput
	// ServerPodLabels select the server pods, for NetworkPolicies of the callers.
	ServerPodLabels pulumi.StringMapOutput
}

// NewRelease registers the Stack Auth release. Pass the kubernetes provider in opts (pulumi.Providers); args.DependsOn
// (the ExternalSecret that makes the Secret, the namespace) is waited for before Helm installs.
func NewRelease(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Release, error) {
	a := args.withDefaults()
	values, err := ChartValues(a)
	if err != nil {
		return nil, err
	}
	chartDir := filepath.Clean(a.ChartDir)
	if err := checkChartDir(chartDir); err != nil {
		return nil, err
	}

	component := &Release{}
	if err := ctx.RegisterComponentResource("stackauth:app:Release", name, component, opts...); err != nil {
		return nil, err
	}

	helm, err := helmv3.NewRelease(ctx, name, &helmv3.ReleaseArgs{
		Name:      pulumi.String(a.ReleaseName),
		Namespace: pulumi.String(a.Namespace),
		Chart:     pulumi.String(chartDir),
		Values:    pulumi.ToMap(values),
		// A failed install or upgrade (migration Job, probes, timeout) rolls back to the last good revision.
		Atomic:        pulumi.Bool(true),
		CleanupOnFail: pulumi.Bool(true),
		Timeout:       pulumi.Int(a.TimeoutSeconds),
		// Revisions kept so an atomic upgrade has a last good one to return to.
		MaxHistory: pulumi.Int(a.HistoryMax),
	}, pulumi.Parent(component), pulumi.DependsOn(a.DependsOn))
	if err != nil {
		return nil, fmt.Errorf("stackauth: helm release %q: %w", name, err)
	}

	component.Helm = helm
	component.Namespace = pulumi.String(a.Namespace).ToStringOutput()
	component.ServiceName = pulumi.String(a.ReleaseName).ToStringOutput()
	component.APIPort = pulumi.Int(APIPort).ToIntOutput()
	component.DashboardPort = pulumi.Int(DashboardPort).ToIntOutput()
	component.APIServiceURL = pulumi.Sprintf("http://%s.%s.svc:%d", a.ReleaseName, a.Namespace, APIPort)
	component.ServerPodLabels = pulumi.ToStringMap(ServerPodLabels(a.ReleaseName)).ToStringMapOutput()

	if err := ctx.RegisterResourceOutputs(component, pulumi.Map{
		"namespace":       component.Namespace,
		"serviceName":     component.ServiceName,
		"apiPort":         component.APIPort,
		"dashboardPort":   component.DashboardPort,
		"apiServiceUrl":   component.APIServiceURL,
		"serverPodLabels": component.ServerPodLabels,
	}); err != nil {
		return nil, err
	}
	return component, nil
}
