// Package karpenter installs Karpenter, the node autoscaler that gives pending pods nodes: its CRDs and controller
// (two helm/v3 Releases), the controller's IRSA role, the role and instance profile of the nodes it launches (with
// their EKS access entry), the SQS queue and EventBridge rules through which it hears of interruptions before they
// happen, and the EC2NodeClass and NodePool that say what it may launch.
package karpenter

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/eks"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sqs"
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/stackauth-platform/infra/components/cluster"
	"github.com/stackauth-platform/infra/components/iampolicy"
	"github.com/stackauth-platform/infra/components/irsachart"
	"github.com/stackauth-platform/infra/components/k8sbase"
)

// Version is the Karpenter release installed, chart and controller alike. 1.14 supports Kubernetes 1.26 to 1.36,
// every EKS version the config allows.
const Version = "1.14.3"

// Charts are Karpenter's two charts: its CRDs on their own, so that an upgrade upgrades them too (Helm never
// touches a chart's crds/ directory after the first install), and the controller.
var (
	CRDChart        = k8sbase.Chart{Name: "oci://public.ecr.aws/karpenter/karpenter-crd", Version: Version}
	ControllerChart = k8sbase.Chart{Name: "oci://public.ecr.aws/karpenter/karpenter", Version: Version}
)

// Where the controller runs and who it is. kube-system, as Karpenter's own guide installs it: the chart's affinity
// keeps it off the nodes it manages, so it lives on the managed node group.
const (
	Namespace      = "kube-system"
	ServiceAccount = "karpenter"
)

// API versions of the custom resources, as the pinned CRDs serve them.
const (
	NodeClassAPIVersion = "karpenter.k8s.aws/v1"
	NodePoolAPIVersion  = "karpenter.sh/v1"
)

// Names of the custom resources. Both kinds are cluster-scoped.
const (
	NodeClassName = "default"
	NodePoolName  = "workloads"
)

// PoolLabel marks the nodes of the NodePool; the managed node group carries stackauth.dev/pool=system.
var PoolLabel = map[string]string{"stackauth.dev/pool": NodePoolName}

// Args describe the cluster Karpenter serves and what it may launch.
type Args struct {
	ClusterName     string
	ClusterEndpoint pulumi.StringInput
	Region          string
	// Partition and AccountID complete the ARNs of the controller's policy.
	Partition pulumi.StringInput
	AccountID pulumi.StringInput
	// OIDCProviderARN and OIDCIssuerURL are the cluster's IRSA identity provider.
	OIDCProviderARN pulumi.StringInput
	OIDCIssuerURL   pulumi.StringInput
	// ClusterSecurityGroupID is the only security group of the nodes, as EKS gives the managed nodes: the database
	// and cache admit this group, and the control plane reaches the kubelets through it.
	ClusterSecurityGroupID pulumi.StringInput
	// VolumeKMSKeyARN encrypts the nodes' root volumes; the controller may use it only through EC2.
	VolumeKMSKeyARN pulumi.StringInput
	DiskSizeGB      int
	// AMIAlias is the EC2NodeClass's AMI alias (al2023@latest, or pinned as al2023@vYYYYMMDD).
	AMIAlias string
	// CPULimit and MemoryLimit cap the NodePool's total node capacity (Kubernetes quantities).
	CPULimit    string
	MemoryLimit string
	// CapacityTypes are the purchase options Karpenter may use: on-demand and/or spot.
	CapacityTypes []string
	Tags          map[string]string
}

// Karpenter is the installed autoscaler.
type Karpenter struct {
	pulumi.ResourceState

	// Controller is the controller's release; CRDs installs the custom resource definitions.
	Controller *helmv3.Release
	CRDs       *helmv3.Release
	// InterruptionQueueURL is the SQS queue the controller reads interruption events from.
	InterruptionQueueURL pulumi.StringOutput
	// ControllerRoleARN and NodeRoleARN are the controller's IRSA role and the role of the nodes it launches.
	ControllerRoleARN pulumi.StringOutput
	NodeRoleARN       pulumi.StringOutput
}

// interruptionEvents are the EventBridge events Karpenter acts on, each sent to the queue by its own rule: it
// drains a node before a spot reclaim, a rebalance recommendation, a scheduled maintenance (AWS Health), a stop or
// termination, or a capacity reservation ending.
var interruptionEvents = []struct{ name, source, detailType string }{
	{"scheduled-change", "aws.health", "AWS Health Event"},
	{"spot-interruption", "aws.ec2", "EC2 Spot Instance Interruption Warning"},
	{"rebalance", "aws.ec2", "EC2 Instance Rebalance Recommendation"},
	{"instance-state-change", "aws.ec2", "EC2 Instance State-change Notification"},
	{"capacity-reservation-interruption", "aws.ec2", "EC2 Capacity Reservation Instance Interruption Warning"},
}

// NewKarpenter installs Karpenter. Pass the AWS and kubernetes providers in opts (pulumi.Providers).
func NewKarpenter(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Karpenter, error) {
	k := &Karpenter{}
	if err := ctx.RegisterComponentResource("stackauth:karpenter:Karpenter", name, k, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(k)
	tags := pulumi.ToStringMap(args.Tags)

	// Karpenter's messages are short-lived: an interruption warning is worthless after its two minutes.
	queue, err := sqs.NewQueue(ctx, name+"-interruption", &sqs.QueueArgs{
		Name:                    pulumi.String(args.ClusterName),
		MessageRetentionSeconds: pulumi.Int(300),
		SqsManagedSseEnabled:    pulumi.Bool(true),
		Tags:                    tags,
	}, parent)
	if err != nil {
		return nil, err
	}
	var ruleARNs pulumi.StringArray
	for _, e := range interruptionEvents {
		pattern, err := json.Marshal(map[string]any{"source": []string{e.source}, "detail-type": []string{e.detailType}})
		if err != nil {
			return nil, err
		}
		rule, err := cloudwatch.NewEventRule(ctx, name+"-"+e.name, &cloudwatch.EventRuleArgs{
			Description:  pulumi.String(fmt.Sprintf("%s events for Karpenter of %s", e.detailType, args.ClusterName)),
			EventPattern: pulumi.String(string(pattern)),
			Tags:         tags,
		}, parent)
		if err != nil {
			return nil, err
		}
		if _, err := cloudwatch.NewEventTarget(ctx, name+"-"+e.name, &cloudwatch.EventTargetArgs{
			Rule:     rule.Name,
			TargetId: pulumi.String("karpenter-interruption-queue"),
			Arn:      queue.Arn,
		}, parent); err != nil {
			return nil, err
		}
		ruleARNs = append(ruleARNs, rule.Arn)
	}
	if _, err := sqs.NewQueuePolicy(ctx, name+"-interruption", &sqs.QueuePolicyArgs{
		QueueUrl: queue.Url,
		Policy:   queuePolicy(queue.Arn, ruleARNs),
	}, parent); err != nil {
		return nil, err
	}

	// Its nodes get a role of their own, with the managed nodes' permissions and its own access entry below.
	nodeRole, err := cluster.NodeRole(ctx, name+"-node", tags, parent)
	if err != nil {
		return nil, err
	}
	// The profile is made here rather than by Karpenter, so the controller needs no right to create, tag or delete
	// instance profiles.
	profile, err := iam.NewInstanceProfile(ctx, name+"-node", &iam.InstanceProfileArgs{
		Role: nodeRole.Name,
		Tags: tags,
	}, parent)
	if err != nil {
		return nil, err
	}
	// The access entry lets nodes with this role join the cluster (the cluster authenticates by API only).
	nodeAccess, err := eks.NewAccessEntry(ctx, name+"-node", &eks.AccessEntryArgs{
		ClusterName:  pulumi.String(args.ClusterName),
		PrincipalArn: nodeRole.Arn,
		Type:         pulumi.String("EC2_LINUX"),
		Tags:         tags,
	}, parent)
	if err != nil {
		return nil, err
	}

	crds, err := k8sbase.Release(ctx, name+"-crd", k8sbase.ReleaseArgs{
		Chart:       CRDChart,
		ReleaseName: "karpenter-crd",
		Namespace:   Namespace,
	}, parent)
	if err != nil {
		return nil, err
	}
	controller, controllerRole, err := irsachart.Install(ctx, name, irsachart.Args{
		Chart:          ControllerChart,
		ReleaseName:    "karpenter",
		Namespace:      Namespace,
		ServiceAccount: ServiceAccount,
		Policy: iampolicy.Document(controllerStatements(policyScope{
			clusterName:     args.ClusterName,
			region:          args.Region,
			partition:       args.Partition,
			accountID:       args.AccountID,
			securityGroupID: args.ClusterSecurityGroupID,
			queueARN:        queue.Arn,
			nodeRoleARN:     nodeRole.Arn,
			profileARN:      profile.Arn,
			volumeKeyARN:    args.VolumeKMSKeyARN,
		})...),
		OIDCProviderARN: args.OIDCProviderARN,
		OIDCIssuerURL:   args.OIDCIssuerURL,
		Values: map[string]any{
			"settings": map[string]any{
				"clusterName":       args.ClusterName,
				"clusterEndpoint":   args.ClusterEndpoint,
				"interruptionQueue": queue.Name,
			},
			"controller": map[string]any{
				// Karpenter's guide sizes the controller at one core and 1Gi, requests equal to limits.
				"resources": map[string]any{
					"requests": map[string]any{"cpu": "1", "memory": "1Gi"},
					"limits":   map[string]any{"cpu": "1", "memory": "1Gi"},
				},
				// Said outright: with the nodes' IMDS hop limit of 1 the pod cannot ask the metadata service.
				"env": []any{map[string]any{"name": "AWS_REGION", "value": args.Region}},
			},
		},
		DependsOn: []pulumi.Resource{crds},
		Tags:      args.Tags,
	}, parent)
	if err != nil {
		return nil, err
	}

	// The custom resources wait for the CRDs and for the controller, whose nodes must be able to join.
	waitFor := pulumi.DependsOn([]pulumi.Resource{controller, nodeAccess})
	nodeClass, err := k8sbase.CustomResource(ctx, name+"-"+NodeClassName, k8sbase.Object{
		APIVersion: NodeClassAPIVersion,
		Kind:       "EC2NodeClass",
		Name:       NodeClassName,
		Fields:     map[string]any{"spec": nodeClassSpec(args, profile.Name)},
	}, crds, parent, waitFor)
	if err != nil {
		return nil, err
	}
	if _, err := k8sbase.CustomResource(ctx, name+"-"+NodePoolName, k8sbase.Object{
		APIVersion: NodePoolAPIVersion,
		Kind:       "NodePool",
		Name:       NodePoolName,
		Fields:     map[string]any{"spec": nodePoolSpec(args)},
	}, crds, parent, waitFor, pulumi.DependsOn([]pulumi.Resource{nodeClass})); err != nil {
		return nil, err
	}

	k.Controller = controller
	k.CRDs = crds
	k.InterruptionQueueURL = queue.Url
	k.ControllerRoleARN = controllerRole.Arn
	k.NodeRoleARN = nodeRole.Arn
	if err := ctx.RegisterResourceOutputs(k, pulumi.Map{
		"interruptionQueueUrl": k.InterruptionQueueURL,
		"controllerRoleArn":    k.ControllerRoleARN,
		"nodeRoleArn":          k.NodeRoleARN,
	}); err != nil {
		return nil, err
	}
	return k, nil
}

// nodeClassSpec is the EC2NodeClass: the cluster's private subnets (tagged karpenter.sh/discovery by the network),
// the cluster security group, IMDSv2 with one hop (pods reach AWS through IRSA, never the node's role), and an
// encrypted gp3 root volume.
func nodeClassSpec(args *Args, instanceProfile pulumi.StringInput) map[string]any {
	return map[string]any{
		"instanceProfile":            instanceProfile,
		"amiSelectorTerms":           []any{map[string]any{"alias": args.AMIAlias}},
		"subnetSelectorTerms":        []any{map[string]any{"tags": map[string]any{"karpenter.sh/discovery": args.ClusterName}}},
		"securityGroupSelectorTerms": []any{map[string]any{"id": args.ClusterSecurityGroupID}},
		"metadataOptions": map[string]any{
			"httpEndpoint":            "enabled",
			"httpProtocolIPv6":        "disabled",
			"httpPutResponseHopLimit": 1,
			"httpTokens":              "required",
		},
		"blockDeviceMappings": []any{map[string]any{
			"deviceName": "/dev/xvda",
			"ebs": map[string]any{
				"volumeSize":          fmt.Sprintf("%dGi", args.DiskSizeGB),
				"volumeType":          "gp3",
				"encrypted":           true,
				"kmsKeyID":            args.VolumeKMSKeyARN,
				"deleteOnTermination": true,
			},
		}},
		"tags": args.Tags,
	}
}

// nodePoolSpec is the NodePool for the workloads: current-generation x86 instances of the general, compute and
// memory families (the images are amd64; the managed node group is x86 too), capped by the limits, consolidated
// when nodes are empty or underused, at most a tenth of the nodes disrupted at once, and replaced after 30 days so
// they pick up new AMIs.
func nodePoolSpec(args *Args) map[string]any {
	requirement := func(key, operator string, values ...string) map[string]any {
		return map[string]any{"key": key, "operator": operator, "values": values}
	}
	return map[string]any{
		"template": map[string]any{
			"metadata": map[string]any{"labels": PoolLabel},
			"spec": map[string]any{
				"nodeClassRef": map[string]any{"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": NodeClassName},
				"requirements": []any{
					requirement("karpenter.sh/capacity-type", "In", args.CapacityTypes...),
					requirement("kubernetes.io/arch", "In", "amd64"),
					requirement("kubernetes.io/os", "In", "linux"),
					requirement("karpenter.k8s.aws/instance-category", "In", "c", "m", "r"),
					requirement("karpenter.k8s.aws/instance-generation", "Gt", "5"),
				},
				"expireAfter": "720h",
			},
		},
		"limits": map[string]any{"cpu": args.CPULimit, "memory": args.MemoryLimit},
		"disruption": map[string]any{
			"consolidationPolicy": "WhenEmptyOrUnderutilized",
			"consolidateAfter":    "1m",
			"budgets":             []any{map[string]any{"nodes": "10%"}},
		},
	}
}

// queuePolicy lets EventBridge deliver only this stack's rules' events to the queue (and SQS itself send, as
// Karpenter's template allows), and refuses any request to the queue that is not over TLS.
func queuePolicy(queueARN pulumi.StringOutput, ruleARNs pulumi.StringArray) pulumi.StringOutput {
	return pulumi.JSONMarshal(pulumi.Map{
		"Version": pulumi.String("2012-10-17"),
		"Id":      pulumi.String("EC2InterruptionPolicy"),
		"Statement": pulumi.Array{
			pulumi.Map{
				"Sid":       pulumi.String("EventBridgeRulesOfThisCluster"),
				"Effect":    pulumi.String("Allow"),
				"Principal": pulumi.Map{"Service": pulumi.String("events.amazonaws.com")},
				"Action":    pulumi.String("sqs:SendMessage"),
				"Resource":  queueARN,
				"Condition": pulumi.Map{"ArnEquals": pulumi.Map{"aws:SourceArn": ruleARNs}},
			},
			pulumi.Map{
				"Sid":       pulumi.String("SQS"),
				"Effect":    pulumi.String("Allow"),
				"Principal": pulumi.Map{"Service": pulumi.String("sqs.amazonaws.com")},
				"Action":    pulumi.String("sqs:SendMessage"),
				"Resource":  queueARN,
			},
			pulumi.Map{
				"Sid":       pulumi.String("DenyHTTP"),
				"Effect":    pulumi.String("Deny"),
				"Principal": pulumi.String("*"),
				"Action":    pulumi.String("sqs:*"),
				"Resource":  queueARN,
				"Condition": pulumi.Map{"Bool": pulumi.Map{"aws:SecureTransport": pulumi.String("false")}},
			},
		},
	})
}
