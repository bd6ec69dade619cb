// Package cluster provisions the EKS cluster: control plane with envelope
// encryption of Secrets, a managed node group in the private subnets with
// IMDSv2 only, the OIDC provider for IRSA, the core add-ons, a default gp3
// StorageClass, API access entries, and the kubernetes Provider that every
// in-cluster component uses.
package cluster

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/eks"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	storagev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/storage/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/stackauth-platform/infra/components/awsbase"
	"github.com/stackauth-platform/infra/components/iampolicy"
	"github.com/stackauth-platform/infra/components/irsa"
)

// Args describe the cluster.
type Args struct {
	ClusterName       string
	Region            string
	KubernetesVersion string
	PrivateSubnetIDs  pulumi.StringArrayInput
	// PublicAccessCIDRs may reach the public API endpoint; nodes and pods use
	// the private one.
	PublicAccessCIDRs []string
	// CIRoleARN, when set, gets a cluster-admin access entry so pipelines can
	// run previews and deploys.
	CIRoleARN string
	// CIReadOnlyRoleARN, when set, gets a view-only access entry for PR
	// previews and drift detection, which refresh but never change.
	CIReadOnlyRoleARN  string
	NodeInstanceTypes  []string
	NodeMinSize        int
	NodeDesiredSize    int
	NodeMaxSize        int
	NodeDiskSizeGB     int
	LogRetentionInDays int
	Tags               map[string]string
}

// Cluster is the EKS component.
type Cluster struct {
	pulumi.ResourceState

	Name                   pulumi.StringOutput
	Endpoint               pulumi.StringOutput
	OIDCProviderARN        pulumi.StringOutput
	OIDCIssuerURL          pulumi.StringOutput
	ClusterSecurityGroupID pulumi.StringOutput
	NodeRoleARN            pulumi.StringOutput
	NodeRoleName           pulumi.StringOutput
	KMSKeyARN              pulumi.StringOutput
	// Kubeconfig is secret: it names the cluster and its CA.
	Kubeconfig pulumi.StringOutput
	// Provider deploys into this cluster; it waits for the nodes and add-ons.
	Provider *kubernetes.Provider
}

// AMI types the node group may use, chosen by the instance family's CPU.
const (
	amiX86 = "AL2023_x86_64_STANDARD"
	amiARM = "AL2023_ARM_64_STANDARD"
)

// NewCluster creates the control plane, nodes, add-ons and provider.
func NewCluster(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Cluster, error) {
	c := &Cluster{}
	if err := ctx.RegisterComponentResource("stackauth:cluster:Cluster", name, c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)
	tags := pulumi.ToStringMap(args.Tags)

	amiType, err := AMIType(args.NodeInstanceTypes)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}

	key, err := awsbase.Key(ctx, name+"-secrets", "Envelope encryption of Kubernetes Secrets and node volumes of "+args.ClusterName, args.Tags, parent)
	if err != nil {
		return nil, err
	}

	// EKS writes control plane logs to this group; creating it here sets the
	// retention instead of leaving the logs forever.
	logGroup, err := cloudwatch.NewLogGroup(ctx, name+"-control-plane", &cloudwatch.LogGroupArgs{
		Name:            pulumi.String("/aws/eks/" + args.ClusterName + "/cluster"),
		RetentionInDays: pulumi.Int(args.LogRetentionInDays),
		Tags:            tags,
	}, parent)
	if err != nil {
		return nil, err
	}

	clusterRole, err := iam.NewRole(ctx, name+"-control-plane", &iam.RoleArgs{
		AssumeRolePolicy: iampolicy.AssumeByService("eks.amazonaws.com"),
		Tags:             tags,
	}, parent)
	if err != nil {
		return nil, err
	}
	if err := iampolicy.AttachManaged(ctx, name+"-control-plane", clusterRole.Name, []string{
		"arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",
	}, parent); err != nil {
		return nil, err
	}

	cluster, err := eks.NewCluster(ctx, name, &eks.ClusterArgs{
		Name:    pulumi.String(args.ClusterName),
		Version: pulumi.String(args.KubernetesVersion),
		RoleArn: clusterRole.Arn,
		VpcConfig: &eks.ClusterVpcConfigArgs{
			SubnetIds:             args.PrivateSubnetIDs,
			EndpointPrivateAccess: pulumi.Bool(true),
			EndpointPublicAccess:  pulumi.Bool(len(args.PublicAccessCIDRs) > 0),
			PublicAccessCidrs:     pulumi.ToStringArray(args.PublicAccessCIDRs),
		},
		EncryptionConfig: &eks.ClusterEncryptionConfigArgs{
			Provider:  &eks.ClusterEncryptionConfigProviderArgs{KeyArn: key.Arn},
			Resources: pulumi.StringArray{pulumi.String("secrets")},
		},
		AccessConfig: &eks.ClusterAccessConfigArgs{
			AuthenticationMode:                      pulumi.String("API"),
			BootstrapClusterCreatorAdminPermissions: pulumi.Bool(true),
		},
		EnabledClusterLogTypes: pulumi.ToStringArray([]string{"api", "audit", "authenticator", "controllerManager", "scheduler"}),
		// The add-ons below are managed explicitly, with IRSA roles.
		BootstrapSelfManagedAddons: pulumi.Bool(false),
		Tags:                       tags,
	}, parent, pulumi.DependsOn([]pulumi.Resource{logGroup}))
	if err != nil {
		return nil, err
	}
	issuerURL := cluster.Identities.Index(pulumi.Int(0)).Oidcs().Index(pulumi.Int(0)).Issuer().Elem()

	oidc, err := iam.NewOpenIdConnectProvider(ctx, name, &iam.OpenIdConnectProviderArgs{
		Url:           issuerURL,
		ClientIdLists: pulumi.StringArray{pulumi.String("sts.amazonaws.com")},
		Tags:          tags,
	}, parent)
	if err != nil {
		return nil, err
	}

	nodeRole, err := NodeRole(ctx, name+"-nodes", tags, parent)
	if err != nil {
		return nil, err
	}

	launchTemplate, err := ec2.NewLaunchTemplate(ctx, name+"-nodes", &ec2.LaunchTemplateArgs{
		Description: pulumi.String("EKS nodes: IMDSv2 only, encrypted gp3 root volume"),
		MetadataOptions: &ec2.LaunchTemplateMetadataOptionsArgs{
			HttpEndpoint: pulumi.String("enabled"),
			HttpTokens:   pulumi.String("required"),
			// One hop keeps pods (which use IRSA) off the node's credentials.
			HttpPutResponseHopLimit: pulumi.Int(1),
		},
		BlockDeviceMappings: ec2.LaunchTemplateBlockDeviceMappingArray{&ec2.LaunchTemplateBlockDeviceMappingArgs{
			DeviceName: pulumi.String("/dev/xvda"),
			Ebs: &ec2.LaunchTemplateBlockDeviceMappingEbsArgs{
				VolumeSize:          pulumi.Int(args.NodeDiskSizeGB),
				VolumeType:          pulumi.String("gp3"),
				Encrypted:           pulumi.String("true"),
				KmsKeyId:            key.Arn,
				DeleteOnTermination: pulumi.String("true"),
			},
		}},
		TagSpecifications: ec2.LaunchTemplateTagSpecificationArray{&ec2.LaunchTemplateTagSpecificationArgs{
			ResourceType: pulumi.String("instance"),
			Tags:         tags,
		}},
		Tags: tags,
	}, parent)
	if err != nil {
		return nil, err
	}
	// Nodes must be able to decrypt their own KMS-encrypted root volumes.
	if _, err := iam.NewRolePolicy(ctx, name+"-nodes-kms", &iam.RolePolicyArgs{
		Role: nodeRole.ID(),
		Policy: iampolicy.Document(iampolicy.Statement{
			Actions:   []string{"kms:Decrypt", "kms:GenerateDataKeyWithoutPlaintext", "kms:CreateGrant", "kms:DescribeKey"},
			Resources: pulumi.StringArray{key.Arn},
		}),
	}, parent); err != nil {
		return nil, err
	}

	cniRole, err := irsa.NewRole(ctx, name+"-vpc-cni", &irsa.Args{
		OIDCProviderARN:   oidc.Arn,
		OIDCIssuerURL:     issuerURL,
		Namespace:         "kube-system",
		ServiceAccount:    "aws-node",
		ManagedPolicyARNs: []string{"arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"},
		Tags:              args.Tags,
	}, parent)
	if err != nil {
		return nil, err
	}
	ebsRole, err := irsa.NewRole(ctx, name+"-ebs-csi", &irsa.Args{
		OIDCProviderARN:   oidc.Arn,
		OIDCIssuerURL:     issuerURL,
		Namespace:         "kube-system",
		ServiceAccount:    "ebs-csi-controller-sa",
		ManagedPolicyARNs: []string{"arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"},
		// Encrypted volumes with our key need these on the key itself.
		Policy: iampolicy.Document(iampolicy.Statement{
			Actions:   []string{"kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo"},
			Resources: pulumi.StringArray{key.Arn},
		}),
		Tags: args.Tags,
	}, parent)
	if err != nil {
		return nil, err
	}

	// vpc-cni must exist before nodes join, or they never become Ready.
	cni, err := addon(ctx, name, cluster, "vpc-cni", cniRole.Arn, parent)
	if err != nil {
		return nil, err
	}
	kubeProxy, err := addon(ctx, name, cluster, "kube-proxy", nil, parent)
	if err != nil {
		return nil, err
	}

	nodes, err := eks.NewNodeGroup(ctx, name+"-system", &eks.NodeGroupArgs{
		ClusterName: cluster.Name,
		NodeRoleArn: nodeRole.Arn,
		SubnetIds:   args.PrivateSubnetIDs,
		ScalingConfig: &eks.NodeGroupScalingConfigArgs{
			MinSize:     pulumi.Int(args.NodeMinSize),
			DesiredSize: pulumi.Int(args.NodeDesiredSize),
			MaxSize:     pulumi.Int(args.NodeMaxSize),
		},
		InstanceTypes: pulumi.ToStringArray(args.NodeInstanceTypes),
		AmiType:       pulumi.String(amiType),
		CapacityType:  pulumi.String("ON_DEMAND"),
		LaunchTemplate: &eks.NodeGroupLaunchTemplateArgs{
			Id:      launchTemplate.ID(),
			Version: launchTemplate.LatestVersion.ApplyT(func(v int) string { return fmt.Sprint(v) }).(pulumi.StringOutput),
		},
		UpdateConfig: &eks.NodeGroupUpdateConfigArgs{MaxUnavailablePercentage: pulumi.Int(33)},
		Labels:       pulumi.StringMap{"stackauth.dev/pool": pulumi.String("system")},
		Tags:         tags,
	}, parent, pulumi.DependsOn([]pulumi.Resource{cni, kubeProxy}),
		// The desired size moves with autoscaling; Pulumi should not fight it.
		pulumi.IgnoreChanges([]string{"scalingConfig.desiredSize"}))
	if err != nil {
		return nil, err
	}

	coreDNS, err := addon(ctx, name, cluster, "coredns", nil, parent, pulumi.DependsOn([]pulumi.Resource{nodes}))
	if err != nil {
		return nil, err
	}
	ebs, err := addon(ctx, name, cluster, "aws-ebs-csi-driver", ebsRole.Arn, parent, pulumi.DependsOn([]pulumi.Resource{nodes}))
	if err != nil {
		return nil, err
	}

	for _, access := range []struct{ suffix, role, policy string }{
		{"ci", args.CIRoleARN, "AmazonEKSClusterAdminPolicy"},
		{"ci-readonly", args.CIReadOnlyRoleARN, "AmazonEKSAdminViewPolicy"},
	} {
		if access.role == "" {
			continue
		}
		entry, err := eks.NewAccessEntry(ctx, name+"-"+access.suffix, &eks.AccessEntryArgs{
			ClusterName:  cluster.Name,
			PrincipalArn: pulumi.String(access.role),
			Type:         pulumi.String("STANDARD"),
			Tags:         tags,
		}, parent)
		if err != nil {
			return nil, err
		}
		if _, err := eks.NewAccessPolicyAssociation(ctx, name+"-"+access.suffix, &eks.AccessPolicyAssociationArgs{
			ClusterName:  cluster.Name,
			PrincipalArn: entry.PrincipalArn,
			PolicyArn:    pulumi.String("arn:aws:eks::aws:cluster-access-policy/" + access.policy),
			AccessScope:  &eks.AccessPolicyAssociationAccessScopeArgs{Type: pulumi.String("cluster")},
		}, parent); err != nil {
			return nil, err
		}
	}

	kubeconfig := pulumi.ToSecret(pulumi.All(cluster.Name, cluster.Endpoint, cluster.CertificateAuthority.Data().Elem()).ApplyT(
		func(v []any) (string, error) {
			return Kubeconfig(v[0].(string), v[1].(string), v[2].(string), args.Region)
		})).(pulumi.StringOutput)

	provider, err := kubernetes.NewProvider(ctx, name, &kubernetes.ProviderArgs{
		Kubeconfig: kubeconfig,
		// Server-side apply lets the field managers of controllers coexist.
		EnableServerSideApply: pulumi.Bool(true),
	}, parent, pulumi.DependsOn([]pulumi.Resource{nodes, coreDNS, ebs}))
	if err != nil {
		return nil, err
	}

	if _, err := storagev1.NewStorageClass(ctx, name+"-gp3", &storagev1.StorageClassArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:        pulumi.String("gp3"),
			Annotations: pulumi.StringMap{"storageclass.kubernetes.io/is-default-class": pulumi.String("true")},
		},
		Provisioner:          pulumi.String("ebs.csi.aws.com"),
		VolumeBindingMode:    pulumi.String("WaitForFirstConsumer"),
		AllowVolumeExpansion: pulumi.Bool(true),
		ReclaimPolicy:        pulumi.String("Retain"),
		Parameters: pulumi.StringMap{
			"type":      pulumi.String("gp3"),
			"encrypted": pulumi.String("true"),
			"kmsKeyId":  key.Arn,
		},
	}, parent, pulumi.Provider(provider)); err != nil {
		return nil, err
	}

	c.Name = cluster.Name
	c.Endpoint = cluster.Endpoint
	c.OIDCProviderARN = oidc.Arn
	c.OIDCIssuerURL = issuerURL
	c.ClusterSecurityGroupID = cluster.VpcConfig.ClusterSecurityGroupId().Elem()
	c.NodeRoleARN = nodeRole.Arn
	c.NodeRoleName = nodeRole.Name
	c.KMSKeyARN = key.Arn
	c.Kubeconfig = kubeconfig
	c.Provider = provider
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{
		"name":       c.Name,
		"endpoint":   c.Endpoint,
		"kubeconfig": c.Kubeconfig,
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// NodeRole is the IAM role of the cluster's nodes, the managed ones and those Karpenter launches: it lets them join
// the cluster, pull images and be reached through SSM. The CNI policy is not on it: vpc-cni gets it through IRSA.
func NodeRole(ctx *pulumi.Context, name string, tags pulumi.StringMap, opts ...pulumi.ResourceOption) (*iam.Role, error) {
	role, err := iam.NewRole(ctx, name, &iam.RoleArgs{
		AssumeRolePolicy: iampolicy.AssumeByService("ec2.amazonaws.com"),
		Tags:             tags,
	}, opts...)
	if err != nil {
		return nil, err
	}
	if err := iampolicy.AttachManaged(ctx, name, role.Name, []string{
		"arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
		"arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly",
		"arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
	}, opts...); err != nil {
		return nil, err
	}
	return role, nil
}

func addon(ctx *pulumi.Context, prefix string, cluster *eks.Cluster, name string, role pulumi.StringInput, opts ...pulumi.ResourceOption) (*eks.Addon, error) {
	args := &eks.AddonArgs{
		ClusterName:              cluster.Name,
		AddonName:                pulumi.String(name),
		ResolveConflictsOnCreate: pulumi.String("OVERWRITE"),
		ResolveConflictsOnUpdate: pulumi.String("PRESERVE"),
	}
	if role != nil {
		args.ServiceAccountRoleArn = role
	}
	if values, ok := addonConfiguration[name]; ok {
		args.ConfigurationValues = pulumi.String(values)
	}
	return eks.NewAddon(ctx, prefix+"-"+name, args, opts...)
}

// addonConfiguration holds add-on settings that differ from EKS defaults.
var addonConfiguration = map[string]string{
	// NetworkPolicies are enforced only when the VPC CNI's agent is on; the
	// charts' default-deny policies would otherwise be silently ignored.
	"vpc-cni": `{"enableNetworkPolicy":"true"}`,
}

// AMIType picks the AL2023 AMI for the node group's CPU architecture; mixing
// Graviton and x86 types in one managed node group is not possible.
func AMIType(instanceTypes []string) (string, error) {
	ami := ""
	for _, t := range instanceTypes {
		family := strings.SplitN(t, ".", 2)[0]
		want := amiX86
		// Graviton families carry a "g" after the generation digit (m7g, c8gd, r6gn).
		if i := strings.IndexAny(family, "0123456789"); i >= 0 && strings.HasPrefix(family[i+1:], "g") {
			want = amiARM
		}
		if ami != "" && ami != want {
			return "", fmt.Errorf("node instance types %v mix arm64 and x86_64; use one architecture per node group", instanceTypes)
		}
		ami = want
	}
	return ami, nil
}

// Kubeconfig is a kubeconfig that authenticates with `aws eks get-token`, so
// it holds no credential of its own; whoever runs Pulumi needs AWS access.
func Kubeconfig(clusterName, endpoint, caData, region string) (string, error) {
	cfg := map[string]any{
		"apiVersion":      "v1",
		"kind":            "Config",
		"current-context": clusterName,
		"clusters": []any{map[string]any{
			"name":    clusterName,
			"cluster": map[string]any{"server": endpoint, "certificate-authority-data": caData},
		}},
		"contexts": []any{map[string]any{
			"name":    clusterName,
			"context": map[string]any{"cluster": clusterName, "user": clusterName},
		}},
		"users": []any{map[string]any{
			"name": clusterName,
			"user": map[string]any{"exec": map[string]any{
				"apiVersion": "client.authentication.k8s.io/v1beta1",
				"command":    "aws",
				"args": []string{"eks", "get-token", "--cluster-name", clusterName,
					"--region", region, "--output", "json"},
				"interactiveMode": "Never",
			}},
		}},
	}
	b, err := json.Marshal(cfg)
	return string(b), err
}
