package program

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/stackauth-platform/infra/components/externaldns"
	"github.com/stackauth-platform/infra/components/karpenter"
	"github.com/stackauth-platform/infra/components/lbcontroller"
	"github.com/stackauth-platform/infra/components/metricsserver"
	"github.com/stackauth-platform/infra/config"
)

// clusterAddons installs what the workloads need from an AWS cluster: nodes on demand (Karpenter), metrics for
// the HPAs (metrics-server), load balancers (the AWS Load Balancer Controller) and DNS records (external-dns).
// Each is skipped when its addon* setting is off, for clusters that already run their own.
func clusterAddons(ctx *pulumi.Context, cfg *config.Stack, f *Foundation, p *Platform) error {
	if cfg.Cloud != "aws" {
		return nil
	}
	tags := map[string]string{"stackauth:stack": cfg.Name}
	onBoth := pulumi.Providers(f.AWS, f.Cluster.Provider)
	onAWS := pulumi.Provider(f.AWS)
	partition := aws.GetPartitionOutput(ctx, aws.GetPartitionOutputArgs{}, onAWS).Partition()
	account := aws.GetCallerIdentityOutput(ctx, aws.GetCallerIdentityOutputArgs{}, onAWS).AccountId()

	if cfg.Addons.MetricsServer {
		if _, err := metricsserver.NewMetricsServer(ctx, "metrics-server", &metricsserver.Args{
			ClusterName: f.Cluster.Name,
			Cluster:     f.Cluster,
			Tags:        tags,
		}, pulumi.Providers(f.AWS)); err != nil {
			return err
		}
	}

	if cfg.Addons.Karpenter {
		if _, err := karpenter.NewKarpenter(ctx, "karpenter", &karpenter.Args{
			ClusterName:            f.ClusterName,
			ClusterEndpoint:        f.Cluster.Endpoint,
			Region:                 cfg.Region,
			Partition:              partition,
			AccountID:              account,
			OIDCProviderARN:        f.Cluster.OIDCProviderARN,
			OIDCIssuerURL:          f.Cluster.OIDCIssuerURL,
			ClusterSecurityGroupID: f.Cluster.ClusterSecurityGroupID,
			VolumeKMSKeyARN:        f.Cluster.KMSKeyARN,
			DiskSizeGB:             cfg.Cluster.NodeDiskSizeGB,
			AMIAlias:               cfg.NodePool.AMIAlias,
			CPULimit:               cfg.NodePool.CPULimit,
			MemoryLimit:            cfg.NodePool.MemoryLimit,
			CapacityTypes:          cfg.NodePool.CapacityTypes,
			Tags:                   tags,
		}, onBoth); err != nil {
			return err
		}
	}

	if cfg.Addons.LoadBalancerController {
		lbc, err := lbcontroller.NewController(ctx, "aws-load-balancer-controller", &lbcontroller.Args{
			ClusterName:     f.ClusterName,
			Region:          cfg.Region,
			VpcID:           f.Network.VpcID,
			Partition:       partition,
			OIDCProviderARN: f.Cluster.OIDCProviderARN,
			OIDCIssuerURL:   f.Cluster.OIDCIssuerURL,
			Tags:            tags,
		}, onBoth)
		if err != nil {
			return err
		}
		p.LoadBalancerController = lbc.Release
	}

	if cfg.Addons.ExternalDNS {
		if _, err := externaldns.NewExternalDNS(ctx, "external-dns", &externaldns.Args{
			OwnerID:         f.ClusterName,
			Domain:          cfg.Domain,
			ZoneID:          cfg.Addons.Route53ZoneID,
			Partition:       partition,
			OIDCProviderARN: f.Cluster.OIDCProviderARN,
			OIDCIssuerURL:   f.Cluster.OIDCIssuerURL,
			Tags:            tags,
		}, onBoth); err != nil {
			return err
		}
	}
	return nil
}
