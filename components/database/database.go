// Package database provisions the RDS PostgreSQL instance Stack Auth stores
// everything in: private, encrypted with its own KMS key, TLS enforced, the
// guide's tuning in a parameter group, and production's protections.
package database

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/rds"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/stackauth-platform/infra/components/awsbase"
)

// Args describe the database.
type Args struct {
	VpcID     pulumi.StringInput
	SubnetIDs pulumi.StringArrayInput
	// ClientSecurityGroupID is the only source admitted on 5432, directly or
	// through the proxy when Proxy is set.
	ClientSecurityGroupID pulumi.StringInput
	// Password is the master password (a RandomPassword, secret).
	Password pulumi.StringInput

	InstanceClass        string
	EngineVersion        string
	AllocatedStorageGB   int
	MaxAllocatedStorage  int
	MultiAZ              bool
	DeletionProtection   bool
	BackupRetentionDays  int
	MaxConnections       int
	SharedBuffersMB      int
	EffectiveCacheSizeMB int
	WorkMemMB            int
	// Protect sets Pulumi's protect on the instance, so no `pulumi up` or
	// `destroy` can delete production data.
	Protect bool
	Tags    map[string]string
	// Proxy, when set, puts RDS Proxy in front of the instance (proxy.go).
	Proxy *ProxyArgs
}

// Database is the RDS component.
type Database struct {
	pulumi.ResourceState

	Address  pulumi.StringOutput
	Port     pulumi.IntOutput
	Username string
	DBName   string
	Password pulumi.StringOutput
	ARN      pulumi.StringOutput
	// InstanceID is the DB instance identifier (for RDS Proxy targets and dashboards).
	InstanceID      pulumi.StringOutput
	SecurityGroupID pulumi.StringOutput
	// ProxyEndpoint is the RDS Proxy host when Args.Proxy is set; ClientHost picks it.
	ProxyEndpoint pulumi.StringOutput
}

const (
	username = "stackauth"
	dbName   = "stackauth"
	port     = 5432
)

// Parameter is one parameter group entry, in PostgreSQL's native units.
type Parameter struct {
	Name, Value, ApplyMethod string
}

// Parameters renders the guide's tuning in the units RDS expects:
// shared_buffers and effective_cache_size in 8 kB pages, work_mem in kB.
// Static parameters only take effect after a reboot, which RDS must be told.
func Parameters(a *Args) []Parameter {
	const pagesPerMB = 1024 / 8
	return []Parameter{
		{"max_connections", fmt.Sprint(a.MaxConnections), "pending-reboot"},
		{"shared_buffers", fmt.Sprint(a.SharedBuffersMB * pagesPerMB), "pending-reboot"},
		{"effective_cache_size", fmt.Sprint(a.EffectiveCacheSizeMB * pagesPerMB), "immediate"},
		{"work_mem", fmt.Sprint(a.WorkMemMB * 1024), "immediate"},
		// Clients that do not speak TLS are refused.
		{"rds.force_ssl", "1", "immediate"},
		{"log_min_duration_statement", "1000", "immediate"},
	}
}

// NewDatabase creates the key, network placement, parameters and instance.
func NewDatabase(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Database, error) {
	d := &Database{Username: username, DBName: dbName}
	if err := ctx.RegisterComponentResource("stackauth:database:Postgres", name, d, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(d)
	tags := pulumi.ToStringMap(args.Tags)

	key, err := awsbase.Key(ctx, name, "RDS storage and Performance Insights of "+name, args.Tags, parent)
	if err != nil {
		return nil, err
	}
	// With RDS Proxy in front, the instance admits the proxy too; the proxy's own group admits the nodes only.
	nodes := pulumi.StringArray{args.ClientSecurityGroupID}
	sources := nodes
	var proxySG *ec2.SecurityGroup
	if args.Proxy != nil {
		if proxySG, err = awsbase.IngressFrom(ctx, name+"-proxy", args.VpcID, port, nodes, "RDS Proxy", args.Tags, parent); err != nil {
			return nil, err
		}
		sources = pulumi.StringArray{args.ClientSecurityGroupID, proxySG.ID()}
	}
	sg, err := awsbase.IngressFrom(ctx, name, args.VpcID, port, sources, "PostgreSQL", args.Tags, parent)
	if err != nil {
		return nil, err
	}
	subnets, err := rds.NewSubnetGroup(ctx, name, &rds.SubnetGroupArgs{
		SubnetIds:   args.SubnetIDs,
		Description: pulumi.String("Private subnets of " + name),
		Tags:        tags,
	}, parent)
	if err != nil {
		return nil, err
	}

	var params rds.ParameterGroupParameterArray
	for _, p := range Parameters(args) {
		params = append(params, &rds.ParameterGroupParameterArgs{
			Name: pulumi.String(p.Name), Value: pulumi.String(p.Value), ApplyMethod: pulumi.String(p.ApplyMethod),
		})
	}
	paramGroup, err := rds.NewParameterGroup(ctx, name, &rds.ParameterGroupArgs{
		Family:      pulumi.String("postgres" + args.EngineVersion),
		Description: pulumi.String("Stack Auth tuning (deployment guide)"),
		Parameters:  params,
		Tags:        tags,
	}, parent)
	if err != nil {
		return nil, err
	}

	instanceArgs := &rds.InstanceArgs{
		Engine: pulumi.String("postgres"),
		// Only the major is pinned; AWS applies minor releases in the window.
		EngineVersion:              pulumi.String(args.EngineVersion),
		AutoMinorVersionUpgrade:    pulumi.Bool(true),
		InstanceClass:              pulumi.String(args.InstanceClass),
		AllocatedStorage:           pulumi.Int(args.AllocatedStorageGB),
		MaxAllocatedStorage:        pulumi.Int(args.MaxAllocatedStorage),
		StorageType:                pulumi.String("gp3"),
		StorageEncrypted:           pulumi.Bool(true),
		KmsKeyId:                   key.Arn,
		DbName:                     pulumi.String(dbName),
		Username:                   pulumi.String(username),
		Password:                   args.Password,
		Port:                       pulumi.Int(port),
		DbSubnetGroupName:          subnets.Name,
		VpcSecurityGroupIds:        pulumi.StringArray{sg.ID()},
		PubliclyAccessible:         pulumi.Bool(false),
		ParameterGroupName:         paramGroup.Name,
		MultiAz:                    pulumi.Bool(args.MultiAZ),
		DeletionProtection:         pulumi.Bool(args.DeletionProtection),
		BackupRetentionPeriod:      pulumi.Int(args.BackupRetentionDays),
		BackupWindow:               pulumi.String("03:00-04:00"),
		MaintenanceWindow:          pulumi.String("sun:04:30-sun:05:30"),
		CopyTagsToSnapshot:         pulumi.Bool(true),
		PerformanceInsightsEnabled: pulumi.Bool(true),
		// 7 days of Performance Insights are free of charge.
		PerformanceInsightsRetentionPeriod: pulumi.Int(7),
		PerformanceInsightsKmsKeyId:        key.Arn,
		IamDatabaseAuthenticationEnabled:   pulumi.Bool(true),
		EnabledCloudwatchLogsExports:       pulumi.ToStringArray([]string{"postgresql", "upgrade"}),
		CaCertIdentifier:                   pulumi.String("rds-ca-rsa2048-g1"),
		ApplyImmediately:                   pulumi.Bool(false),
		Tags:                               tags,
	}
	if args.DeletionProtection {
		instanceArgs.FinalSnapshotIdentifier = pulumi.String(name + "-final")
		instanceArgs.SkipFinalSnapshot = pulumi.Bool(false)
	} else {
		instanceArgs.SkipFinalSnapshot = pulumi.Bool(true)
	}
	instance, err := rds.NewInstance(ctx, name, instanceArgs, parent, pulumi.Protect(args.Protect),
		pulumi.AdditionalSecretOutputs([]string{"password"}))
	if err != nil {
		return nil, err
	}

	d.Address = instance.Address
	d.Port = instance.Port
	d.Password = pulumi.ToSecret(args.Password).(pulumi.StringOutput)
	d.ARN = instance.Arn
	d.InstanceID = instance.Identifier
	d.SecurityGroupID = sg.ID().ToStringOutput()
	outputs := pulumi.Map{
		"address": d.Address,
		"port":    d.Port,
	}
	if args.Proxy != nil {
		if d.ProxyEndpoint, err = newProxy(ctx, name, args, instance, proxySG, sg, parent); err != nil {
			return nil, err
		}
		outputs["proxyEndpoint"] = d.ProxyEndpoint
	}
	if err := ctx.RegisterResourceOutputs(d, outputs); err != nil {
		return nil, err
	}
	return d, nil
}
