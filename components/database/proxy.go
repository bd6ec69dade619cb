package database

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/rds"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/secretsmanager"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/vpc"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/stackauth-platform/infra/components/awsbase"
	"github.com/stackauth-platform/infra/components/iampolicy"
)

// ProxyArgs configure RDS Proxy in front of the instance. Clients then connect to the proxy with the database
// user's own name and password (Secrets Manager auth: the proxy checks them against its secret), over TLS only; the
// proxy holds a pool of connections to the instance, capped at MaxConnectionsPercent of max_connections.
type ProxyArgs struct {
	// Name is the proxy's identifier, unique per account and region.
	Name string
	// Region is where the proxy's secret is decrypted (the kms:ViaService condition of its role).
	Region string
	// MaxConnectionsPercent of max_connections the proxy may open to the instance; it keeps half of that idle at
	// most, as AWS's defaults (100 and 50) do.
	MaxConnectionsPercent int
	// BorrowTimeoutSeconds is how long a client waits for a connection from the proxy's pool before an error.
	BorrowTimeoutSeconds int
}

// ClientHost is where the application connects: the proxy when there is one, else the instance.
func (d *Database) ClientHost() pulumi.StringOutput {
	if d.ProxyEndpoint != (pulumi.StringOutput{}) {
		return d.ProxyEndpoint
	}
	return d.Address
}

// newProxy creates the proxy's credentials (a secret of its own under its own key, readable only by the proxy's
// role), the proxy in the private subnets behind proxySG, its pool settings, the instance as its target, and the
// egress from proxySG to the instance. It returns the proxy's endpoint.
func newProxy(ctx *pulumi.Context, name string, args *Args, instance *rds.Instance, proxySG, dbSG *ec2.SecurityGroup, parent pulumi.ResourceOption) (pulumi.StringOutput, error) {
	p := args.Proxy
	name += "-proxy"
	none := pulumi.StringOutput{}

	key, err := awsbase.Key(ctx, name, "RDS Proxy credentials of "+p.Name, args.Tags, parent)
	if err != nil {
		return none, err
	}
	secret, err := secretsmanager.NewSecret(ctx, name, &secretsmanager.SecretArgs{
		Description: pulumi.String("Database login RDS Proxy " + p.Name + " uses, and checks its clients against"),
		KmsKeyId:    key.Arn,
		// The value follows from the master password and is rewritten by the next `pulumi up`.
		RecoveryWindowInDays: pulumi.Int(7),
		Tags:                 pulumi.ToStringMap(args.Tags),
	}, parent)
	if err != nil {
		return none, err
	}
	login := pulumi.ToSecret(pulumi.ToOutput(args.Password).ApplyT(func(password any) (string, error) {
		b, err := json.Marshal(map[string]string{"username": username, "password": password.(string)})
		return string(b), err
	})).(pulumi.StringOutput)
	version, err := secretsmanager.NewSecretVersion(ctx, name, &secretsmanager.SecretVersionArgs{
		SecretId:     secret.ID(),
		SecretString: login,
	}, parent)
	if err != nil {
		return none, err
	}

	role, err := iam.NewRole(ctx, name, &iam.RoleArgs{
		Description:      pulumi.String("RDS Proxy " + p.Name + ": reads its one secret"),
		AssumeRolePolicy: iampolicy.AssumeByService("rds.amazonaws.com"),
		Tags:             pulumi.ToStringMap(args.Tags),
	}, parent)
	if err != nil {
		return none, err
	}
	policy, err := iam.NewRolePolicy(ctx, name, &iam.RolePolicyArgs{
		Role: role.ID(),
		Policy: iampolicy.Document(
			iampolicy.Statement{Actions: []string{"secretsmanager:GetSecretValue"}, Resources: pulumi.StringArray{secret.Arn}},
			iampolicy.Statement{
				Actions:   []string{"kms:Decrypt"},
				Resources: pulumi.StringArray{key.Arn},
				Condition: pulumi.Map{"StringEquals": pulumi.Map{
					"kms:ViaService": pulumi.String(fmt.Sprintf("secretsmanager.%s.amazonaws.com", p.Region)),
				}},
			},
		),
	}, parent)
	if err != nil {
		return none, err
	}

	if _, err := vpc.NewSecurityGroupEgressRule(ctx, name+"-to-instance", &vpc.SecurityGroupEgressRuleArgs{
		SecurityGroupId:           proxySG.ID(),
		Description:               pulumi.String("RDS Proxy to its PostgreSQL instance"),
		IpProtocol:                pulumi.String("tcp"),
		FromPort:                  pulumi.Int(port),
		ToPort:                    pulumi.Int(port),
		ReferencedSecurityGroupId: dbSG.ID(),
		Tags:                      pulumi.ToStringMap(args.Tags),
	}, parent); err != nil {
		return none, err
	}

	proxy, err := rds.NewProxy(ctx, name, &rds.ProxyArgs{
		Name:                pulumi.String(p.Name),
		EngineFamily:        pulumi.String("POSTGRESQL"),
		RequireTls:          pulumi.Bool(true),
		RoleArn:             role.Arn,
		VpcSubnetIds:        args.SubnetIDs,
		VpcSecurityGroupIds: pulumi.StringArray{proxySG.ID()},
		Auths: rds.ProxyAuthArray{&rds.ProxyAuthArgs{
			AuthScheme:             pulumi.String("SECRETS"),
			SecretArn:              secret.Arn,
			IamAuth:                pulumi.String("DISABLED"),
			ClientPasswordAuthType: pulumi.String("POSTGRES_SCRAM_SHA_256"),
			Description:            pulumi.String("the " + username + " login"),
		}},
		Tags: pulumi.ToStringMap(args.Tags),
	}, parent, pulumi.DependsOn([]pulumi.Resource{policy, version})) // it reads the secret as soon as it starts
	if err != nil {
		return none, err
	}
	pool, err := rds.NewProxyDefaultTargetGroup(ctx, name, &rds.ProxyDefaultTargetGroupArgs{
		DbProxyName: proxy.Name,
		ConnectionPoolConfig: &rds.ProxyDefaultTargetGroupConnectionPoolConfigArgs{
			MaxConnectionsPercent:     pulumi.Int(p.MaxConnectionsPercent),
			MaxIdleConnectionsPercent: pulumi.Int(p.MaxConnectionsPercent / 2),
			ConnectionBorrowTimeout:   pulumi.Int(p.BorrowTimeoutSeconds),
		},
	}, parent)
	if err != nil {
		return none, err
	}
	if _, err := rds.NewProxyTarget(ctx, name, &rds.ProxyTargetArgs{
		DbProxyName:          proxy.Name,
		TargetGroupName:      pool.Name,
		DbInstanceIdentifier: instance.Identifier,
	}, parent); err != nil {
		return none, err
	}
	return proxy.Endpoint, nil
}
