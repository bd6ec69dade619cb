// Package network provisions the VPC the cluster and its data live in: public
// subnets for the load balancers and NAT, private subnets for nodes, RDS and
// ElastiCache, and flow logs of all traffic.
package network

import (
	"fmt"
	"net/netip"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/stackauth-platform/infra/components/iampolicy"
)

// Args describe the VPC.
type Args struct {
	// CIDR is the VPC's IPv4 block; it must be a /16 to /20.
	CIDR string
	// AZCount is how many availability zones the subnets span.
	AZCount int
	// NatGatewayPerAZ gives each AZ its own NAT gateway, so losing one AZ
	// does not cut the others' egress; false shares one (cheaper).
	NatGatewayPerAZ bool
	// ClusterName is tagged on the subnets so EKS and the AWS Load Balancer
	// Controller discover them.
	ClusterName string
	// FlowLogRetentionDays is how long flow logs are kept.
	FlowLogRetentionDays int
	Tags                 map[string]string
}

// Network is the VPC component.
type Network struct {
	pulumi.ResourceState

	VpcID            pulumi.StringOutput
	VpcCIDR          pulumi.StringOutput
	PublicSubnetIDs  pulumi.StringArrayOutput
	PrivateSubnetIDs pulumi.StringArrayOutput
	AvailabilityZone []string
}

// NewNetwork creates the VPC, its subnets, routing, NAT and flow logs.
func NewNetwork(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Network, error) {
	n := &Network{}
	if err := ctx.RegisterComponentResource("stackauth:network:Network", name, n, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(n)
	tags := func(extra map[string]string) pulumi.StringMap {
		m := pulumi.StringMap{}
		for k, v := range args.Tags {
			m[k] = pulumi.String(v)
		}
		for k, v := range extra {
			m[k] = pulumi.String(v)
		}
		return m
	}

	zones, err := aws.GetAvailabilityZones(ctx, &aws.GetAvailabilityZonesArgs{State: pulumi.StringRef("available")}, parent)
	if err != nil {
		return nil, fmt.Errorf("network: listing availability zones: %w", err)
	}
	if len(zones.Names) < args.AZCount {
		return nil, fmt.Errorf("network: the region has %d available zones, %d asked for", len(zones.Names), args.AZCount)
	}
	n.AvailabilityZone = zones.Names[:args.AZCount]

	publicCIDRs, privateCIDRs, err := SubnetCIDRs(args.CIDR, args.AZCount)
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}

	vpc, err := ec2.NewVpc(ctx, name, &ec2.VpcArgs{
		CidrBlock:          pulumi.String(args.CIDR),
		EnableDnsHostnames: pulumi.Bool(true),
		EnableDnsSupport:   pulumi.Bool(true),
		Tags:               tags(map[string]string{"Name": name}),
	}, parent)
	if err != nil {
		return nil, err
	}
	// The default security group of a VPC admits all traffic between its
	// members; nothing should use it, so it is emptied.
	if _, err := ec2.NewDefaultSecurityGroup(ctx, name+"-default", &ec2.DefaultSecurityGroupArgs{
		VpcId: vpc.ID(),
		Tags:  tags(map[string]string{"Name": name + "-default-unused"}),
	}, parent); err != nil {
		return nil, err
	}

	igw, err := ec2.NewInternetGateway(ctx, name, &ec2.InternetGatewayArgs{
		VpcId: vpc.ID(),
		Tags:  tags(map[string]string{"Name": name}),
	}, parent)
	if err != nil {
		return nil, err
	}
	publicRT, err := ec2.NewRouteTable(ctx, name+"-public", &ec2.RouteTableArgs{
		VpcId: vpc.ID(),
		Routes: ec2.RouteTableRouteArray{&ec2.RouteTableRouteArgs{
			CidrBlock: pulumi.String("0.0.0.0/0"),
			GatewayId: igw.ID(),
		}},
		Tags: tags(map[string]string{"Name": name + "-public"}),
	}, parent)
	if err != nil {
		return nil, err
	}

	clusterTag := "kubernetes.io/cluster/" + args.ClusterName
	var publicIDs, privateIDs pulumi.StringArray
	var nats []*ec2.NatGateway
	for i, az := range n.AvailabilityZone {
		public, err := ec2.NewSubnet(ctx, fmt.Sprintf("%s-public-%s", name, az), &ec2.SubnetArgs{
			VpcId:            vpc.ID(),
			CidrBlock:        pulumi.String(publicCIDRs[i]),
			AvailabilityZone: pulumi.String(az),
			// Nothing is launched here but load balancers and NAT, which
			// get their addresses explicitly.
			MapPublicIpOnLaunch: pulumi.Bool(false),
			Tags: tags(map[string]string{
				"Name":                   fmt.Sprintf("%s-public-%s", name, az),
				"kubernetes.io/role/elb": "1",
				clusterTag:               "shared",
			}),
		}, parent)
		if err != nil {
			return nil, err
		}
		if _, err := ec2.NewRouteTableAssociation(ctx, fmt.Sprintf("%s-public-%s", name, az), &ec2.RouteTableAssociationArgs{
			SubnetId:     public.ID(),
			RouteTableId: publicRT.ID(),
		}, parent); err != nil {
			return nil, err
		}
		publicIDs = append(publicIDs, public.ID())

		if i == 0 || args.NatGatewayPerAZ {
			eip, err := ec2.NewEip(ctx, fmt.Sprintf("%s-nat-%s", name, az), &ec2.EipArgs{
				Domain: pulumi.String("vpc"),
				Tags:   tags(map[string]string{"Name": fmt.Sprintf("%s-nat-%s", name, az)}),
			}, parent)
			if err != nil {
				return nil, err
			}
			nat, err := ec2.NewNatGateway(ctx, fmt.Sprintf("%s-%s", name, az), &ec2.NatGatewayArgs{
				AllocationId: eip.ID(),
				SubnetId:     public.ID(),
				Tags:         tags(map[string]string{"Name": fmt.Sprintf("%s-%s", name, az)}),
			}, parent, pulumi.DependsOn([]pulumi.Resource{igw}))
			if err != nil {
				return nil, err
			}
			nats = append(nats, nat)
		}
		nat := nats[len(nats)-1]

		private, err := ec2.NewSubnet(ctx, fmt.Sprintf("%s-private-%s", name, az), &ec2.SubnetArgs{
			VpcId:               vpc.ID(),
			CidrBlock:           pulumi.String(privateCIDRs[i]),
			AvailabilityZone:    pulumi.String(az),
			MapPublicIpOnLaunch: pulumi.Bool(false),
			Tags: tags(map[string]string{
				"Name":                            fmt.Sprintf("%s-private-%s", name, az),
				"kubernetes.io/role/internal-elb": "1",
				clusterTag:                        "shared",
				"karpenter.sh/discovery":          args.ClusterName,
			}),
		}, parent)
		if err != nil {
			return nil, err
		}
		privateRT, err := ec2.NewRouteTable(ctx, fmt.Sprintf("%s-private-%s", name, az), &ec2.RouteTableArgs{
			VpcId: vpc.ID(),
			Routes: ec2.RouteTableRouteArray{&ec2.RouteTableRouteArgs{
				CidrBlock:    pulumi.String("0.0.0.0/0"),
				NatGatewayId: nat.ID(),
			}},
			Tags: tags(map[string]string{"Name": fmt.Sprintf("%s-private-%s", name, az)}),
		}, parent)
		if err != nil {
			return nil, err
		}
		if _, err := ec2.NewRouteTableAssociation(ctx, fmt.Sprintf("%s-private-%s", name, az), &ec2.RouteTableAssociationArgs{
			SubnetId:     private.ID(),
			RouteTableId: privateRT.ID(),
		}, parent); err != nil {
			return nil, err
		}
		privateIDs = append(privateIDs, private.ID())
	}

	if err := flowLogs(ctx, name, vpc, args, tags(nil), parent); err != nil {
		return nil, err
	}

	n.VpcID = vpc.ID().ToStringOutput()
	n.VpcCIDR = vpc.CidrBlock
	n.PublicSubnetIDs = publicIDs.ToStringArrayOutput()
	n.PrivateSubnetIDs = privateIDs.ToStringArrayOutput()
	if err := ctx.RegisterResourceOutputs(n, pulumi.Map{
		"vpcId":            n.VpcID,
		"publicSubnetIds":  n.PublicSubnetIDs,
		"privateSubnetIds": n.PrivateSubnetIDs,
	}); err != nil {
		return nil, err
	}
	return n, nil
}

// flowLogs records every accepted and rejected flow of the VPC in CloudWatch
// Logs, through a role that may write only to that log group.
func flowLogs(ctx *pulumi.Context, name string, vpc *ec2.Vpc, args *Args, tags pulumi.StringMap, parent pulumi.ResourceOption) error {
	group, err := cloudwatch.NewLogGroup(ctx, name+"-flow-logs", &cloudwatch.LogGroupArgs{
		NamePrefix:      pulumi.String("/aws/vpc/" + name + "-flow-logs-"),
		RetentionInDays: pulumi.Int(args.FlowLogRetentionDays),
		Tags:            tags,
	}, parent)
	if err != nil {
		return err
	}
	role, err := iam.NewRole(ctx, name+"-flow-logs", &iam.RoleArgs{
		AssumeRolePolicy: iampolicy.AssumeByService("vpc-flow-logs.amazonaws.com"),
		Tags:             tags,
	}, parent)
	if err != nil {
		return err
	}
	if _, err := iam.NewRolePolicy(ctx, name+"-flow-logs", &iam.RolePolicyArgs{
		Role: role.ID(),
		Policy: iampolicy.Document(iampolicy.Statement{
			Actions:   []string{"logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"},
			Resources: pulumi.StringArray{group.Arn, pulumi.Sprintf("%s:*", group.Arn)},
		}),
	}, parent); err != nil {
		return err
	}
	_, err = ec2.NewFlowLog(ctx, name, &ec2.FlowLogArgs{
		VpcId:                  vpc.ID(),
		TrafficType:            pulumi.String("ALL"),
		LogDestinationType:     pulumi.String("cloud-watch-logs"),
		LogDestination:         group.Arn,
		IamRoleArn:             role.Arn,
		MaxAggregationInterval: pulumi.Int(60),
		Tags:                   tags,
	}, parent)
	return err
}

// SubnetCIDRs splits the VPC block: the first quarter holds the small public
// subnets, the remaining three quarters the private ones, one per AZ each.
func SubnetCIDRs(vpcCIDR string, azs int) (public, private []string, err error) {
	prefix, err := netip.ParsePrefix(vpcCIDR)
	if err != nil || !prefix.Addr().Is4() {
		return nil, nil, fmt.Errorf("vpc CIDR %q is not an IPv4 block", vpcCIDR)
	}
	bits := prefix.Bits()
	if bits < 16 || bits > 20 {
		return nil, nil, fmt.Errorf("vpc CIDR %q must be a /16 to /20 to hold %d AZs of subnets", vpcCIDR, azs)
	}
	base := prefix.Masked().Addr().As4()
	start := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	size := uint32(1) << (32 - bits)
	// Public: /(bits+4) each from the start; private: /(bits+2) each from the second quarter.
	pubSize, privSize := size/16, size/4
	for i := 0; i < azs; i++ {
		public = append(public, cidrString(start+uint32(i)*pubSize, bits+4))
		private = append(private, cidrString(start+size/4+uint32(i)*privSize, bits+2))
	}
	return public, private, nil
}

func cidrString(addr uint32, bits int) string {
	return fmt.Sprintf("%d.%d.%d.%d/%d", addr>>24, addr>>16&0xff, addr>>8&0xff, addr&0xff, bits)
}
