package policy

// net are the URNs of a small network.
type net struct{ vpc, igw, public, private string }

// network adds a VPC with one public and one private subnet routed the way
// the network component does.
func network(b *builder) net {
	v := b.add(vpc, "vpc", `{"cidrBlock":"10.0.0.0/16"}`)
	igw := b.add(internetGateway, "igw", `{}`, from("vpcId", v))
	nat := b.add("aws:ec2/natGateway:NatGateway", "nat", `{}`)
	public := b.add(subnet, "public-a", `{"mapPublicIpOnLaunch":false,"tags":{"kubernetes.io/role/elb":"1"}}`, from("vpcId", v))
	private := b.add(subnet, "private-a", `{"mapPublicIpOnLaunch":false,"tags":{"kubernetes.io/role/internal-elb":"1"}}`, from("vpcId", v))
	publicRT := b.add(routeTable, "public", `{"routes":[{"cidrBlock":"0.0.0.0/0","gatewayId":"igw-id"}]}`, from("routes", igw))
	privateRT := b.add(routeTable, "private-a", `{"routes":[{"cidrBlock":"0.0.0.0/0","natGatewayId":"nat-id"}]}`, from("routes", nat))
	b.add(routeTableAssociation, "public-a", `{}`, from("subnetId", public), from("routeTableId", publicRT))
	b.add(routeTableAssociation, "private-a", `{}`, from("subnetId", private), from("routeTableId", privateRT))
	return net{vpc: v, igw: igw, public: public, private: private}
}

var _ = register(
	// AWS-SG-001
	ruleCase{"AWS-SG-001", "data port from a security group, web ports on the load balancer", func(b *builder) {
		b.add(securityGroup, "db", `{"ingress":[{"protocol":"tcp","fromPort":5432,"toPort":5432,"securityGroups":["sg-nodes"]}]}`)
		lbSG := b.add(securityGroup, "lb", `{"ingress":[
			{"protocol":"tcp","fromPort":443,"toPort":443,"cidrBlocks":["0.0.0.0/0"],"ipv6CidrBlocks":["::/0"]},
			{"protocol":"tcp","fromPort":80,"toPort":80,"cidrBlocks":["0.0.0.0/0"]}]}`)
		b.add("aws:lb/loadBalancer:LoadBalancer", "edge", `{"securityGroups":["lb-id"]}`, from("securityGroups", lbSG))
		b.add(securityGroupRule, "office-ssh", `{"type":"ingress","protocol":"tcp","fromPort":22,"toPort":22,"cidrBlocks":["203.0.113.0/24"]}`)
	}, false},
	ruleCase{"AWS-SG-001", "ssh from the internet", func(b *builder) {
		b.add(securityGroup, "bastion", `{"ingress":[{"protocol":"tcp","fromPort":22,"toPort":22,"cidrBlocks":["0.0.0.0/0"]}]}`)
	}, true},
	ruleCase{"AWS-SG-001", "web port from IPv6 internet on a group that fronts no load balancer", func(b *builder) {
		b.add(securityGroup, "nodes", `{"ingress":[{"protocol":"tcp","fromPort":443,"toPort":443,"ipv6CidrBlocks":["::/0"]}]}`)
	}, true},
	ruleCase{"AWS-SG-001", "load balancer opens another port", func(b *builder) {
		lbSG := b.add(securityGroup, "lb", `{"ingress":[{"protocol":"tcp","fromPort":8080,"toPort":8080,"cidrBlocks":["0.0.0.0/0"]}]}`)
		b.add("aws:lb/loadBalancer:LoadBalancer", "edge", `{}`, from("securityGroups", lbSG))
	}, true},
	ruleCase{"AWS-SG-001", "load balancer opens a port range", func(b *builder) {
		lbSG := b.add(securityGroup, "lb", `{"ingress":[{"protocol":"tcp","fromPort":80,"toPort":443,"cidrBlocks":["0.0.0.0/0"]}]}`)
		b.add("aws:lb/loadBalancer:LoadBalancer", "edge", `{}`, from("securityGroups", lbSG))
	}, true},
	ruleCase{"AWS-SG-001", "separate rule from the internet", func(b *builder) {
		sg := b.add(securityGroup, "db", `{}`)
		b.add(securityGroupRule, "db-open", `{"type":"ingress","protocol":"tcp","fromPort":5432,"toPort":5432,"cidrBlocks":["0.0.0.0/0"]}`, from("securityGroupId", sg))
	}, true},
	ruleCase{"AWS-SG-001", "vpc ingress rule from the internet", func(b *builder) {
		b.add(vpcIngressRule, "open", `{"ipProtocol":"-1","cidrIpv4":"0.0.0.0/0"}`)
	}, true},
	// AWS-NET-001
	ruleCase{"AWS-NET-001", "private subnets only", func(b *builder) {
		n := network(b)
		b.add(rdsSubnetGroup, "db", `{"subnetIds":["private-a-id"]}`, from("subnetIds", n.private))
	}, false},
	ruleCase{"AWS-NET-001", "an ELB-tagged subnet routed to the internet gateway", func(b *builder) {
		n := network(b)
		b.add(cacheSubnetGroup, "cache", `{"subnetIds":["private-a-id","public-a-id"]}`, from("subnetIds", n.private, n.public))
	}, true},
	ruleCase{"AWS-NET-001", "an untagged subnet whose route table reaches the internet gateway", func(b *builder) {
		n := network(b)
		sn := b.add(subnet, "sneaky", `{"mapPublicIpOnLaunch":false}`, from("vpcId", n.vpc))
		rt := b.add(routeTable, "sneaky", `{}`)
		b.add(route, "sneaky-out", `{"destinationCidrBlock":"0.0.0.0/0"}`, from("routeTableId", rt), from("gatewayId", n.igw))
		b.add(routeTableAssociation, "sneaky", `{}`, from("subnetId", sn), from("routeTableId", rt))
		b.add(rdsSubnetGroup, "db", `{"subnetIds":["sneaky-id"]}`, from("subnetIds", sn))
	}, true},
	ruleCase{"AWS-NET-001", "a subnet that maps public IPs", func(b *builder) {
		sn := b.add(subnet, "a", `{"mapPublicIpOnLaunch":true}`)
		b.add(rdsSubnetGroup, "db", `{"subnetIds":["a-id"]}`, from("subnetIds", sn))
	}, true},
	ruleCase{"AWS-NET-001", "subnets from outside the stack", func(b *builder) {
		b.add(rdsSubnetGroup, "db", `{"subnetIds":["subnet-0abc"]}`)
	}, true},
	// AWS-NET-002
	ruleCase{"AWS-NET-002", "in the stack's subnet groups", func(b *builder) {
		g := b.add(rdsSubnetGroup, "db", `{}`)
		b.add(rdsInstance, "db", `{"dbSubnetGroupName":"db-id"}`, from("dbSubnetGroupName", g))
		c := b.add(cacheSubnetGroup, "cache", `{}`)
		b.add(cacheGroup, "cache", `{"subnetGroupName":"cache-id"}`, from("subnetGroupName", c))
	}, false},
	ruleCase{"AWS-NET-002", "database in the default VPC", func(b *builder) { b.add(rdsInstance, "db", `{}`) }, true},
	ruleCase{"AWS-NET-002", "cache in a subnet group from elsewhere", func(b *builder) {
		b.add(cacheGroup, "cache", `{"subnetGroupName":"legacy"}`)
	}, true},
	// AWS-NET-003
	ruleCase{"AWS-NET-003", "flow logs", func(b *builder) {
		v := b.add(vpc, "vpc", `{}`)
		b.add(flowLog, "vpc", `{"trafficType":"ALL"}`, from("vpcId", v))
	}, false},
	ruleCase{"AWS-NET-003", "no flow logs", func(b *builder) { b.add(vpc, "vpc", `{}`) }, true},
	// AWS-NET-004
	ruleCase{"AWS-NET-004", "default group emptied", func(b *builder) {
		v := b.add(vpc, "vpc", `{}`)
		b.add(defaultSecurityGroup, "default", `{"vpcId":"vpc-id"}`, from("vpcId", v))
	}, false},
	ruleCase{"AWS-NET-004", "default group left to AWS", func(b *builder) { b.add(vpc, "vpc", `{}`) }, true},
	ruleCase{"AWS-NET-004", "default group with rules", func(b *builder) {
		v := b.add(vpc, "vpc", `{}`)
		b.add(defaultSecurityGroup, "default", `{"ingress":[{"protocol":"-1","fromPort":0,"toPort":0,"self":true}]}`, from("vpcId", v))
	}, true},
)
