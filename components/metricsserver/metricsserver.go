// Package metricsserver installs metrics-server as an EKS add-on (AWS publishes it as a community add-on): it
// serves the resource metrics API (metrics.k8s.io) the HorizontalPodAutoscalers read CPU and memory from. It calls
// only the kubelets, so it needs no IAM role.
package metricsserver

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/eks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// AddonName is the EKS add-on's name.
const AddonName = "metrics-server"

// Args name the cluster.
type Args struct {
	ClusterName pulumi.StringInput
	// Cluster is waited for: the add-on becomes active only once its pods run, so on nodes.
	Cluster pulumi.Resource
	Tags    map[string]string
}

// MetricsServer is the installed add-on.
type MetricsServer struct {
	pulumi.ResourceState

	// Addon is the EKS add-on; HPAs start scaling once it is active.
	Addon *eks.Addon
}

// NewMetricsServer installs the add-on. Pass the AWS provider in opts (pulumi.Providers). EKS picks the add-on
// version it marks default for the cluster's Kubernetes version, as for the cluster's other add-ons.
func NewMetricsServer(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*MetricsServer, error) {
	m := &MetricsServer{}
	if err := ctx.RegisterComponentResource("stackauth:metricsserver:MetricsServer", name, m, opts...); err != nil {
		return nil, err
	}
	addon, err := eks.NewAddon(ctx, name, &eks.AddonArgs{
		ClusterName:              args.ClusterName,
		AddonName:                pulumi.String(AddonName),
		ResolveConflictsOnCreate: pulumi.String("OVERWRITE"),
		ResolveConflictsOnUpdate: pulumi.String("PRESERVE"),
		Tags:                     pulumi.ToStringMap(args.Tags),
	}, pulumi.Parent(m), pulumi.DependsOn([]pulumi.Resource{args.Cluster}))
	if err != nil {
		return nil, err
	}
	m.Addon = addon
	if err := ctx.RegisterResourceOutputs(m, pulumi.Map{"addonVersion": addon.AddonVersion}); err != nil {
		return nil, err
	}
	return m, nil
}
