// Package cache provisions the ElastiCache replication group the rate-limit
// gateway keeps its counters in: private, TLS required, AUTH token, encrypted
// at rest, evicting least-recently-used keys when full.
package cache

import (
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/elasticache"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/stackauth-platform/infra/components/awsbase"
)

// Args describe the replication group.
type Args struct {
	VpcID                 pulumi.StringInput
	SubnetIDs             pulumi.StringArrayInput
	ClientSecurityGroupID pulumi.StringInput
	// AuthToken is a RandomPassword within ElastiCache's rules (secret).
	AuthToken        pulumi.StringInput
	Engine           string
	EngineVersion    string
	NodeType         string
	ReplicasPerShard int
	SnapshotDays     int
	Tags             map[string]string
}

// Cache is the ElastiCache component.
type Cache struct {
	pulumi.ResourceState

	PrimaryEndpoint pulumi.StringOutput
	Port            int
	AuthToken       pulumi.StringOutput
}

const port = 6379

// ParameterFamily is the parameter group family of an engine version:
// valkey8, valkey7 or redis7.
func ParameterFamily(engine, version string) string {
	return engine + strings.SplitN(version, ".", 2)[0]
}

// NewCache creates the key, security group, parameters and replication group.
func NewCache(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Cache, error) {
	c := &Cache{Port: port}
	if err := ctx.RegisterComponentResource("stackauth:cache:Redis", name, c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)
	tags := pulumi.ToStringMap(args.Tags)

	key, err := awsbase.Key(ctx, name, "ElastiCache data and snapshots of "+name, args.Tags, parent)
	if err != nil {
		return nil, err
	}
	sg, err := awsbase.IngressFrom(ctx, name, args.VpcID, port, pulumi.StringArray{args.ClientSecurityGroupID}, "Redis", args.Tags, parent)
	if err != nil {
		return nil, err
	}
	subnets, err := elasticache.NewSubnetGroup(ctx, name, &elasticache.SubnetGroupArgs{
		SubnetIds:   args.SubnetIDs,
		Description: pulumi.String("Private subnets of " + name),
		Tags:        tags,
	}, parent)
	if err != nil {
		return nil, err
	}
	// maxmemory follows the node type and cannot be set; the policy can.
	params, err := elasticache.NewParameterGroup(ctx, name, &elasticache.ParameterGroupArgs{
		Family:      pulumi.String(ParameterFamily(args.Engine, args.EngineVersion)),
		Description: pulumi.String("Rate-limit counters: evict least recently used keys when full"),
		Parameters: elasticache.ParameterGroupParameterArray{&elasticache.ParameterGroupParameterArgs{
			Name: pulumi.String("maxmemory-policy"), Value: pulumi.String("allkeys-lru"),
		}},
		Tags: tags,
	}, parent)
	if err != nil {
		return nil, err
	}

	replicated := args.ReplicasPerShard > 0
	group, err := elasticache.NewReplicationGroup(ctx, name, &elasticache.ReplicationGroupArgs{
		Description:              pulumi.String("Stack Auth rate-limit store"),
		Engine:                   pulumi.String(args.Engine),
		EngineVersion:            pulumi.String(args.EngineVersion),
		NodeType:                 pulumi.String(args.NodeType),
		NumCacheClusters:         pulumi.Int(1 + args.ReplicasPerShard),
		AutomaticFailoverEnabled: pulumi.Bool(replicated),
		MultiAzEnabled:           pulumi.Bool(replicated),
		Port:                     pulumi.Int(port),
		ParameterGroupName:       params.Name,
		SubnetGroupName:          subnets.Name,
		SecurityGroupIds:         pulumi.StringArray{sg.ID()},
		AtRestEncryptionEnabled:  pulumi.Bool(true),
		KmsKeyId:                 key.Arn,
		TransitEncryptionEnabled: pulumi.Bool(true),
		TransitEncryptionMode:    pulumi.String("required"),
		AuthToken:                args.AuthToken,
		AuthTokenUpdateStrategy:  pulumi.String("ROTATE"),
		SnapshotRetentionLimit:   pulumi.Int(args.SnapshotDays),
		SnapshotWindow:           pulumi.String("02:00-03:00"),
		MaintenanceWindow:        pulumi.String("sun:05:30-sun:06:30"),
		AutoMinorVersionUpgrade:  pulumi.Bool(true),
		Tags:                     tags,
	}, parent, pulumi.AdditionalSecretOutputs([]string{"authToken"}))
	if err != nil {
		return nil, err
	}

	c.PrimaryEndpoint = group.PrimaryEndpointAddress
	c.AuthToken = pulumi.ToSecret(args.AuthToken).(pulumi.StringOutput)
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{"primaryEndpoint": c.PrimaryEndpoint}); err != nil {
		return nil, err
	}
	return c, nil
}
