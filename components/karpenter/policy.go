package karpenter

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/stackauth-platform/infra/components/iampolicy"
)

// policyScope is what the controller's permissions are scoped to.
type policyScope struct {
	clusterName, region                   string
	partition, accountID, securityGroupID pulumi.StringInput
	queueARN, nodeRoleARN, profileARN     pulumi.StringOutput
	volumeKeyARN                          pulumi.StringInput
}

// controllerStatements are the permissions of Karpenter's controller policy for v1.14 (its getting-started
// CloudFormation template), scoped as that template scopes them: launches, tagging and deletion only of resources
// tagged for this cluster and a NodePool, reads only in this region. Three changes make it tighter: the instance
// profile is made by Pulumi, so the rights to create, tag and delete profiles are left out and the read is limited
// to that profile; instances may be launched only into the cluster security group; zonal-shift reads are left out
// because the chart's enableZonalShift stays off. One is added: the KMS rights EC2 needs on the controller's behalf
// to encrypt root volumes with the cluster's key.
func controllerStatements(s policyScope) []iampolicy.Statement {
	arns := func(formats ...string) pulumi.StringArray {
		out := make(pulumi.StringArray, len(formats))
		for i, f := range formats {
			out[i] = pulumi.Sprintf(f, s.partition, s.region)
		}
		return out
	}
	clusterTag := "kubernetes.io/cluster/" + s.clusterName
	owned := func(kind string) map[string]any { return map[string]any{"aws:" + kind + "/" + clusterTag: "owned"} }
	withNodePool := func(kind string) map[string]any { return map[string]any{"aws:" + kind + "/karpenter.sh/nodepool": "*"} }
	launched := arns(
		"arn:%s:ec2:%s:*:fleet/*",
		"arn:%s:ec2:%s:*:instance/*",
		"arn:%s:ec2:%s:*:volume/*",
		"arn:%s:ec2:%s:*:network-interface/*",
		"arn:%s:ec2:%s:*:launch-template/*",
		"arn:%s:ec2:%s:*:spot-instances-request/*",
	)
	requestTagsForCluster := map[string]any{
		"aws:RequestTag/" + clusterTag:        "owned",
		"aws:RequestTag/eks:eks-cluster-name": s.clusterName,
	}
	merge := func(a, b map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range a {
			out[k] = v
		}
		for k, v := range b {
			out[k] = v
		}
		return out
	}

	return []iampolicy.Statement{
		{ // AllowScopedEC2InstanceAccessActions
			Actions: []string{"ec2:RunInstances", "ec2:CreateFleet"},
			Resources: append(arns(
				"arn:%s:ec2:%s::image/*",
				"arn:%s:ec2:%s::snapshot/*",
				"arn:%s:ec2:%s:*:subnet/*",
				"arn:%s:ec2:%s:*:capacity-reservation/*",
				"arn:%s:ec2:%s:*:placement-group/*",
			), pulumi.Sprintf("arn:%s:ec2:%s:*:security-group/%s", s.partition, s.region, s.securityGroupID)),
		},
		{ // AllowScopedEC2LaunchTemplateAccessActions
			Actions:   []string{"ec2:RunInstances", "ec2:CreateFleet"},
			Resources: arns("arn:%s:ec2:%s:*:launch-template/*"),
			Condition: pulumi.ToMap(map[string]any{
				"StringEquals": owned("ResourceTag"),
				"StringLike":   withNodePool("ResourceTag"),
			}),
		},
		{ // AllowScopedEC2InstanceActionsWithTags
			Actions:   []string{"ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"},
			Resources: launched,
			Condition: pulumi.ToMap(map[string]any{
				"StringEquals": requestTagsForCluster,
				"StringLike":   withNodePool("RequestTag"),
			}),
		},
		{ // AllowScopedResourceCreationTagging
			Actions:   []string{"ec2:CreateTags"},
			Resources: launched,
			Condition: pulumi.ToMap(map[string]any{
				"StringEquals": merge(requestTagsForCluster, map[string]any{
					"ec2:CreateAction": []string{"RunInstances", "CreateFleet", "CreateLaunchTemplate"},
				}),
				"StringLike": withNodePool("RequestTag"),
			}),
		},
		{ // AllowScopedResourceTagging
			Actions:   []string{"ec2:CreateTags"},
			Resources: arns("arn:%s:ec2:%s:*:instance/*"),
			Condition: pulumi.ToMap(map[string]any{
				"StringEquals":              owned("ResourceTag"),
				"StringLike":                withNodePool("ResourceTag"),
				"StringEqualsIfExists":      map[string]any{"aws:RequestTag/eks:eks-cluster-name": s.clusterName},
				"ForAllValues:StringEquals": map[string]any{"aws:TagKeys": []string{"eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"}},
			}),
		},
		{ // AllowScopedDeletion
			Actions:   []string{"ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"},
			Resources: arns("arn:%s:ec2:%s:*:instance/*", "arn:%s:ec2:%s:*:launch-template/*"),
			Condition: pulumi.ToMap(map[string]any{
				"StringEquals": owned("ResourceTag"),
				"StringLike":   withNodePool("ResourceTag"),
			}),
		},
		{ // AllowRegionalReadActions: these Describe calls support no resource scoping.
			Actions: []string{
				"ec2:DescribeCapacityReservations", "ec2:DescribeImages", "ec2:DescribeInstances",
				"ec2:DescribeInstanceStatus", "ec2:DescribeInstanceTypeOfferings", "ec2:DescribeInstanceTypes",
				"ec2:DescribeLaunchTemplates", "ec2:DescribePlacementGroups", "ec2:DescribeSecurityGroups",
				"ec2:DescribeSpotPriceHistory", "ec2:DescribeSubnets",
			},
			Resources: pulumi.ToStringArray([]string{"*"}),
			Condition: pulumi.ToMap(map[string]any{"StringEquals": map[string]any{"aws:RequestedRegion": s.region}}),
		},
		{ // AllowSSMReadActions: the public parameters that name the current AMIs.
			Actions:   []string{"ssm:GetParameter"},
			Resources: arns("arn:%s:ssm:%s::parameter/aws/service/*"),
		},
		{ // AllowPricingReadActions
			Actions:   []string{"pricing:GetProducts"},
			Resources: pulumi.ToStringArray([]string{"*"}),
		},
		{ // AllowInterruptionQueueActions
			Actions:   []string{"sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"},
			Resources: pulumi.StringArray{s.queueARN},
		},
		{ // AllowPassingInstanceRole
			Actions:   []string{"iam:PassRole"},
			Resources: pulumi.StringArray{s.nodeRoleARN},
			Condition: pulumi.ToMap(map[string]any{"StringEquals": map[string]any{"iam:PassedToService": []string{"ec2.amazonaws.com", "ec2.amazonaws.com.cn"}}}),
		},
		{ // AllowInstanceProfileReadActions, for the one profile the EC2NodeClass names.
			Actions:   []string{"iam:GetInstanceProfile"},
			Resources: pulumi.StringArray{s.profileARN},
		},
		{ // AllowUnscopedInstanceProfileListAction: the instance-profile garbage collector lists them; List has no scope.
			Actions:   []string{"iam:ListInstanceProfiles"},
			Resources: pulumi.ToStringArray([]string{"*"}),
		},
		{ // AllowAPIServerEndpointDiscovery
			Actions:   []string{"eks:DescribeCluster"},
			Resources: pulumi.StringArray{pulumi.Sprintf("arn:%s:eks:%s:%s:cluster/%s", s.partition, s.region, s.accountID, s.clusterName)},
		},
		{ // Root volumes encrypted with the cluster's key: EC2 uses the key on the launching principal's behalf.
			Actions:   []string{"kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo"},
			Resources: pulumi.StringArray{s.volumeKeyARN},
			Condition: pulumi.ToMap(map[string]any{"StringEquals": map[string]any{"kms:ViaService": "ec2." + s.region + ".amazonaws.com"}}),
		},
		{
			Actions:   []string{"kms:CreateGrant"},
			Resources: pulumi.StringArray{s.volumeKeyARN},
			Condition: pulumi.ToMap(map[string]any{
				"Bool":         map[string]any{"kms:GrantIsForAWSResource": "true"},
				"StringEquals": map[string]any{"kms:ViaService": "ec2." + s.region + ".amazonaws.com"},
			}),
		},
	}
}
