// Package lbcontroller installs the AWS Load Balancer Controller, which turns the edge's LoadBalancer Service into
// a network load balancer (internet-facing, IP targets, cross-zone: the annotations the edge sets), placed in the
// public subnets the network tags kubernetes.io/role/elb. The controller runs with its own IRSA role.
package lbcontroller

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/stackauth-platform/infra/components/iampolicy"
	"github.com/stackauth-platform/infra/components/irsachart"
	"github.com/stackauth-platform/infra/components/k8sbase"
)

// Chart is the pinned controller (since 3.0 the chart version is the controller version).
var Chart = k8sbase.Chart{Name: "aws-load-balancer-controller", Version: "3.6.0", Repo: "https://aws.github.io/eks-charts"}

// Namespace and ServiceAccount are where the controller runs and who it is.
const (
	Namespace      = "kube-system"
	ServiceAccount = "aws-load-balancer-controller"
)

// Args describe the cluster the controller serves.
type Args struct {
	ClusterName string
	Region      string
	// VpcID is given because the controller cannot discover it: the nodes' IMDS hop limit of 1 keeps pods off
	// the instance metadata.
	VpcID     pulumi.StringInput
	Partition pulumi.StringInput
	// OIDCProviderARN and OIDCIssuerURL are the cluster's IRSA identity provider.
	OIDCProviderARN pulumi.StringInput
	OIDCIssuerURL   pulumi.StringInput
	Tags            map[string]string
}

// Controller is the installed AWS Load Balancer Controller.
type Controller struct {
	pulumi.ResourceState

	// Release is the controller's release: a LoadBalancer Service should wait for it, or the first reconcile
	// happens before the controller's webhook exists.
	Release pulumi.Resource
	RoleARN pulumi.StringOutput
}

// NewController installs the controller. Pass the AWS and kubernetes providers in opts (pulumi.Providers).
func NewController(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Controller, error) {
	c := &Controller{}
	if err := ctx.RegisterComponentResource("stackauth:lbcontroller:Controller", name, c, opts...); err != nil {
		return nil, err
	}

	release, role, err := irsachart.Install(ctx, name, irsachart.Args{
		Chart:           Chart,
		ReleaseName:     "aws-load-balancer-controller",
		Namespace:       Namespace,
		ServiceAccount:  ServiceAccount,
		Policy:          iampolicy.Document(Statements(args.ClusterName, args.Region, args.Partition)...),
		OIDCProviderARN: args.OIDCProviderARN,
		OIDCIssuerURL:   args.OIDCIssuerURL,
		Values: map[string]any{
			"clusterName":  args.ClusterName,
			"region":       args.Region,
			"vpcId":        args.VpcID,
			"replicaCount": 2,
			"resources": map[string]any{
				"requests": map[string]any{"cpu": "100m", "memory": "128Mi"},
				"limits":   map[string]any{"memory": "256Mi"},
			},
			// The edge is Envoy Gateway, which installs the Gateway API CRDs; this controller neither implements
			// Gateways here nor installs those CRDs (two releases owning them would fight).
			"controllerConfig": map[string]any{"featureGates": map[string]any{"ALBGatewayAPI": false, "NLBGatewayAPI": false}},
			"crds": map[string]any{"gatewayAPI": map[string]any{
				"standard":     map[string]any{"enabled": false},
				"experimental": map[string]any{"enabled": false},
			}},
		},
		Tags: args.Tags,
	}, pulumi.Parent(c))
	if err != nil {
		return nil, err
	}

	c.Release = release
	c.RoleARN = role.Arn
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{"roleArn": c.RoleARN}); err != nil {
		return nil, err
	}
	return c, nil
}

// Statements are the controller's IAM policy: upstream's documented policy (docs/install/iam_policy.json of the
// controller), with the tag conditions tightened from "has an elbv2.k8s.aws/cluster tag" to "has this cluster's
// name in it", and resource ARNs limited to the stack's region. Reads and the actions that AWS cannot scope (or
// that upstream leaves unscoped, like CreateSecurityGroup and listener changes) stay on "*".
func Statements(clusterName, region string, partition pulumi.StringInput) []iampolicy.Statement {
	const tag = "elbv2.k8s.aws/cluster"
	arns := func(formats ...string) pulumi.StringArray {
		out := make(pulumi.StringArray, len(formats))
		for i, f := range formats {
			out[i] = pulumi.Sprintf(f, partition, region)
		}
		return out
	}
	everything := pulumi.ToStringArray([]string{"*"})
	securityGroups := arns("arn:%s:ec2:%s:*:security-group/*")
	balancers := arns(
		"arn:%s:elasticloadbalancing:%s:*:targetgroup/*/*",
		"arn:%s:elasticloadbalancing:%s:*:loadbalancer/net/*/*",
		"arn:%s:elasticloadbalancing:%s:*:loadbalancer/app/*/*",
	)
	ownedResource := map[string]any{"aws:ResourceTag/" + tag: clusterName}
	ownedRequest := map[string]any{"aws:RequestTag/" + tag: clusterName}
	// A tag change on an owned resource may not add, change or remove the ownership tag itself.
	keepsOwner := map[string]any{"StringEquals": ownedResource, "Null": map[string]any{"aws:RequestTag/" + tag: "true"}}

	return []iampolicy.Statement{
		{
			Actions:   []string{"iam:CreateServiceLinkedRole"},
			Resources: everything,
			Condition: pulumi.ToMap(map[string]any{"StringEquals": map[string]any{"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}}),
		},
		{
			Actions: []string{
				"ec2:DescribeAccountAttributes", "ec2:DescribeAddresses", "ec2:DescribeAvailabilityZones",
				"ec2:DescribeInternetGateways", "ec2:DescribeVpcs", "ec2:DescribeVpcPeeringConnections",
				"ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeInstances",
				"ec2:DescribeNetworkInterfaces", "ec2:DescribeTags", "ec2:GetCoipPoolUsage", "ec2:DescribeCoipPools",
				"ec2:GetSecurityGroupsForVpc", "ec2:DescribeIpamPools", "ec2:DescribeRouteTables",
				"elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeLoadBalancerAttributes",
				"elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeListenerCertificates",
				"elasticloadbalancing:DescribeSSLPolicies", "elasticloadbalancing:DescribeRules",
				"elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetGroupAttributes",
				"elasticloadbalancing:DescribeTargetHealth", "elasticloadbalancing:DescribeTags",
				"elasticloadbalancing:DescribeTrustStores", "elasticloadbalancing:DescribeListenerAttributes",
				"elasticloadbalancing:DescribeCapacityReservation",
			},
			Resources: everything,
		},
		{
			Actions: []string{
				"cognito-idp:DescribeUserPoolClient", "acm:ListCertificates", "acm:DescribeCertificate",
				"iam:ListServerCertificates", "iam:GetServerCertificate",
				"waf-regional:GetWebACL", "waf-regional:GetWebACLForResource", "waf-regional:AssociateWebACL", "waf-regional:DisassociateWebACL",
				"wafv2:GetWebACL", "wafv2:GetWebACLForResource", "wafv2:AssociateWebACL", "wafv2:DisassociateWebACL",
				"shield:GetSubscriptionState", "shield:DescribeProtection", "shield:CreateProtection", "shield:DeleteProtection",
			},
			Resources: everything,
		},
		// Rules on the nodes' security groups, which the controller does not own, so upstream cannot scope them.
		{Actions: []string{"ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"}, Resources: everything},
		{Actions: []string{"ec2:CreateSecurityGroup"}, Resources: everything},
		{
			Actions:   []string{"ec2:CreateTags"},
			Resources: securityGroups,
			Condition: pulumi.ToMap(map[string]any{
				"StringEquals": map[string]any{"ec2:CreateAction": "CreateSecurityGroup", "aws:RequestTag/" + tag: clusterName},
			}),
		},
		{Actions: []string{"ec2:CreateTags", "ec2:DeleteTags"}, Resources: securityGroups, Condition: pulumi.ToMap(keepsOwner)},
		{
			Actions:   []string{"ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:DeleteSecurityGroup"},
			Resources: everything,
			Condition: pulumi.ToMap(map[string]any{"StringEquals": ownedResource}),
		},
		{
			Actions:   []string{"elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup"},
			Resources: everything,
			Condition: pulumi.ToMap(map[string]any{"StringEquals": ownedRequest}),
		},
		{
			Actions: []string{
				"elasticloadbalancing:CreateListener", "elasticloadbalancing:DeleteListener",
				"elasticloadbalancing:CreateRule", "elasticloadbalancing:DeleteRule",
			},
			Resources: everything,
		},
		{Actions: []string{"elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"}, Resources: balancers, Condition: pulumi.ToMap(keepsOwner)},
		{
			Actions: []string{"elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"},
			Resources: arns(
				"arn:%s:elasticloadbalancing:%s:*:listener/net/*/*/*",
				"arn:%s:elasticloadbalancing:%s:*:listener/app/*/*/*",
				"arn:%s:elasticloadbalancing:%s:*:listener-rule/net/*/*/*",
				"arn:%s:elasticloadbalancing:%s:*:listener-rule/app/*/*/*",
			),
		},
		{
			Actions: []string{
				"elasticloadbalancing:ModifyLoadBalancerAttributes", "elasticloadbalancing:SetIpAddressType",
				"elasticloadbalancing:SetSecurityGroups", "elasticloadbalancing:SetSubnets",
				"elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:ModifyTargetGroup",
				"elasticloadbalancing:ModifyTargetGroupAttributes", "elasticloadbalancing:DeleteTargetGroup",
				"elasticloadbalancing:ModifyListenerAttributes", "elasticloadbalancing:ModifyCapacityReservation",
				"elasticloadbalancing:ModifyIpPools",
			},
			Resources: everything,
			Condition: pulumi.ToMap(map[string]any{"StringEquals": ownedResource}),
		},
		{
			Actions:   []string{"elasticloadbalancing:AddTags"},
			Resources: balancers,
			Condition: pulumi.ToMap(map[string]any{"StringEquals": map[string]any{
				"elasticloadbalancing:CreateAction": []string{"CreateTargetGroup", "CreateLoadBalancer"},
				"aws:RequestTag/" + tag:             clusterName,
			}}),
		},
		{
			Actions:   []string{"elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"},
			Resources: arns("arn:%s:elasticloadbalancing:%s:*:targetgroup/*/*"),
		},
		{
			Actions: []string{
				"elasticloadbalancing:SetWebAcl", "elasticloadbalancing:ModifyListener",
				"elasticloadbalancing:AddListenerCertificates", "elasticloadbalancing:RemoveListenerCertificates",
				"elasticloadbalancing:ModifyRule", "elasticloadbalancing:SetRulePriorities",
			},
			Resources: everything,
		},
	}
}
