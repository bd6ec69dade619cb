// Package awsbase holds the small AWS building blocks the data components
// share: a customer-managed KMS key and a security group that admits one port
// from one source security group only.
package awsbase

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Key creates a rotating customer-managed KMS key with an alias.
func Key(ctx *pulumi.Context, name, description string, tags map[string]string, opts ...pulumi.ResourceOption) (*kms.Key, error) {
	key, err := kms.NewKey(ctx, name, &kms.KeyArgs{
		Description:          pulumi.String(description),
		EnableKeyRotation:    pulumi.Bool(true),
		DeletionWindowInDays: pulumi.Int(30),
		Tags:                 pulumi.ToStringMap(tags),
	}, opts...)
	if err != nil {
		return nil, err
	}
	if _, err := kms.NewAlias(ctx, name, &kms.AliasArgs{
		NamePrefix:  pulumi.String("alias/" + name + "-"),
		TargetKeyId: key.KeyId,
	}, opts...); err != nil {
		return nil, err
	}
	return key, nil
}

// IngressFrom is a security group that admits TCP on port from the members of
// the source groups (the cluster nodes', and that of an RDS Proxy serving only
// them) and nothing else; it has no egress rules, as a managed data store
// initiates no connections.
func IngressFrom(ctx *pulumi.Context, name string, vpcID pulumi.StringInput, port int, sources pulumi.StringArrayInput, what string, tags map[string]string, opts ...pulumi.ResourceOption) (*ec2.SecurityGroup, error) {
	return ec2.NewSecurityGroup(ctx, name, &ec2.SecurityGroupArgs{
		VpcId:       vpcID,
		Description: pulumi.String(fmt.Sprintf("%s: port %d from the cluster nodes only", what, port)),
		Ingress: ec2.SecurityGroupIngressArray{&ec2.SecurityGroupIngressArgs{
			Description:    pulumi.String("from cluster nodes"),
			Protocol:       pulumi.String("tcp"),
			FromPort:       pulumi.Int(port),
			ToPort:         pulumi.Int(port),
			SecurityGroups: sources,
		}},
		Tags: pulumi.ToStringMap(tags),
	}, opts...)
}
