// Package program is the Pulumi program: it loads the stack's config once and
// wires the components together. main.go runs it under the Pulumi engine;
// cmd/plan and the tests run the same function under the mock engine.
package program

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/stackauth-platform/infra/components/cache"
	"github.com/stackauth-platform/infra/components/cluster"
	"github.com/stackauth-platform/infra/components/credentials"
	"github.com/stackauth-platform/infra/components/database"
	"github.com/stackauth-platform/infra/components/network"
	"github.com/stackauth-platform/infra/components/secretstore"
	"github.com/stackauth-platform/infra/config"
)

// Run is the program's entry point for pulumi.Run.
func Run(ctx *pulumi.Context) error {
	outputs, err := Define(ctx)
	if err != nil {
		return err
	}
	for k, v := range outputs {
		ctx.Export(k, v)
	}
	return nil
}

// Define registers every resource of the stack and returns its outputs.
// Invalid config returns an error before any resource is registered.
func Define(ctx *pulumi.Context) (map[string]pulumi.Output, error) {
	cfg, err := config.Load(ctx)
	if err != nil {
		return nil, err
	}
	urls := map[string]pulumi.Output{
		"apiUrl":       pulumi.String(cfg.APIURL()).ToStringOutput(),
		"dashboardUrl": pulumi.String(cfg.DashboardURL()).ToStringOutput(),
		"namespace":    pulumi.String(cfg.Namespace()).ToStringOutput(),
	}
	if cfg.Cloud == "local" {
		f, err := localFoundation(ctx, cfg)
		if err != nil {
			return nil, err
		}
		if _, err := inCluster(ctx, cfg, f); err != nil {
			return nil, err
		}
		return urls, nil
	}
	f, err := awsFoundation(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := inCluster(ctx, cfg, f); err != nil {
		return nil, err
	}
	outputs := map[string]pulumi.Output{
		"clusterName":   f.Cluster.Name,
		"kubeconfig":    f.Cluster.Kubeconfig,
		"dbEndpoint":    f.Database.Address,
		"cacheEndpoint": f.Cache.PrimaryEndpoint,
		"secretArn":     f.Secrets.ARN,
	}
	for k, v := range urls {
		outputs[k] = v
	}
	return outputs, nil
}

// Foundation is what the cloud half provides to the in-cluster half. A local
// stack has only Kubernetes and Credentials; the AWS parts are nil there.
type Foundation struct {
	// Kubernetes deploys into the stack's cluster.
	Kubernetes  pulumi.ProviderResource
	AWS         *aws.Provider
	ClusterName string
	Network     *network.Network
	Cluster     *cluster.Cluster
	Credentials *credentials.Credentials
	Database    *database.Database
	Cache       *cache.Cache
	Secrets     *secretstore.Store
}

func awsFoundation(ctx *pulumi.Context, cfg *config.Stack) (*Foundation, error) {
	clusterName := "stackauth-" + cfg.Name
	tags := map[string]string{"stackauth:stack": cfg.Name}

	provider, err := aws.NewProvider(ctx, "aws", &aws.ProviderArgs{
		Region: pulumi.String(cfg.Region),
		DefaultTags: &aws.ProviderDefaultTagsArgs{Tags: pulumi.StringMap{
			"project":    pulumi.String(config.Namespace),
			"stack":      pulumi.String(cfg.Name),
			"managed-by": pulumi.String("pulumi"),
		}},
	})
	if err != nil {
		return nil, err
	}
	onAWS := pulumi.Providers(provider)

	net, err := network.NewNetwork(ctx, "network", &network.Args{
		CIDR:                 cfg.Network.CIDR,
		AZCount:              cfg.Network.AZCount,
		NatGatewayPerAZ:      cfg.Network.NatGatewayPerAZ,
		ClusterName:          clusterName,
		FlowLogRetentionDays: cfg.Network.FlowLogRetention,
		Tags:                 tags,
	}, onAWS)
	if err != nil {
		return nil, err
	}

	eks, err := cluster.NewCluster(ctx, "cluster", &cluster.Args{
		ClusterName:        clusterName,
		Region:             cfg.Region,
		KubernetesVersion:  cfg.Cluster.KubernetesVersion,
		PrivateSubnetIDs:   net.PrivateSubnetIDs,
		PublicAccessCIDRs:  cfg.Cluster.PublicAccessCIDRs,
		CIRoleARN:          cfg.Cluster.CIRoleARN,
		CIReadOnlyRoleARN:  cfg.Cluster.CIReadOnlyRoleARN,
		NodeInstanceTypes:  cfg.Cluster.NodeInstanceTypes,
		NodeMinSize:        cfg.Cluster.NodeMinSize,
		NodeDesiredSize:    cfg.Cluster.NodeDesiredSize,
		NodeMaxSize:        cfg.Cluster.NodeMaxSize,
		NodeDiskSizeGB:     cfg.Cluster.NodeDiskSizeGB,
		LogRetentionInDays: cfg.Cluster.LogRetentionInDays,
		Tags:               tags,
	}, onAWS)
	if err != nil {
		return nil, err
	}

	creds, err := credentials.NewCredentials(ctx, "credentials")
	if err != nil {
		return nil, err
	}

	db, err := database.NewDatabase(ctx, "database", &database.Args{
		VpcID:                 net.VpcID,
		SubnetIDs:             net.PrivateSubnetIDs,
		ClientSecurityGroupID: eks.ClusterSecurityGroupID,
		Password:              creds.DatabasePassword,
		InstanceClass:         cfg.Database.InstanceClass,
		EngineVersion:         cfg.Database.EngineVersion,
		AllocatedStorageGB:    cfg.Database.AllocatedStorageGB,
		MaxAllocatedStorage:   cfg.Database.MaxAllocatedStorage,
		MultiAZ:               cfg.Database.MultiAZ,
		DeletionProtection:    cfg.Database.DeletionProtection,
		BackupRetentionDays:   cfg.Database.BackupRetentionDays,
		MaxConnections:        cfg.Database.MaxConnections,
		SharedBuffersMB:       cfg.Database.SharedBuffersMB,
		EffectiveCacheSizeMB:  cfg.Database.EffectiveCacheSizeMB,
		WorkMemMB:             cfg.Database.WorkMemMB,
		Protect:               cfg.Production,
		Tags:                  tags,
		Proxy:                 databaseProxy(cfg),
	}, onAWS)
	if err != nil {
		return nil, err
	}

	redis, err := cache.NewCache(ctx, "cache", &cache.Args{
		VpcID:                 net.VpcID,
		SubnetIDs:             net.PrivateSubnetIDs,
		ClientSecurityGroupID: eks.ClusterSecurityGroupID,
		AuthToken:             creds.CacheAuthToken,
		Engine:                cfg.Cache.Engine,
		EngineVersion:         cfg.Cache.EngineVersion,
		NodeType:              cfg.Cache.NodeType,
		ReplicasPerShard:      cfg.Cache.ReplicasPerShard,
		SnapshotDays:          cfg.Cache.SnapshotDays,
		Tags:                  tags,
	}, onAWS)
	if err != nil {
		return nil, err
	}

	recovery := 7
	if cfg.Production {
		recovery = 30
	}
	store, err := secretstore.NewStore(ctx, "app-secrets", &secretstore.Args{
		Name: "stackauth/" + cfg.Name + "/app",
		Entries: creds.Environment(credentials.Endpoints{
			DatabaseHost:       db.ClientHost(),
			DirectDatabaseHost: db.Address,
			DatabasePort:       5432,
			DatabaseUser:       db.Username,
			DatabaseName:       db.DBName,
			DatabaseParams:     databaseParams(cfg),
			CacheHost:          redis.PrimaryEndpoint,
			CachePort:          redis.Port,
			CacheTLS:           true,
		}, cfg.Secrets),
		RecoveryWindowInDays: recovery,
		Tags:                 tags,
	}, onAWS)
	if err != nil {
		return nil, err
	}

	return &Foundation{
		Kubernetes:  eks.Provider,
		AWS:         provider,
		ClusterName: clusterName,
		Network:     net,
		Cluster:     eks,
		Credentials: creds,
		Database:    db,
		Cache:       redis,
		Secrets:     store,
	}, nil
}
