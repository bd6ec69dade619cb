package policy

import (
	"fmt"
	"strings"

	"github.com/stackauth-platform/infra/internal/plan"
)

// Network type tokens.
const (
	vpc                   = "aws:ec2/vpc:Vpc"
	subnet                = "aws:ec2/subnet:Subnet"
	routeTable            = "aws:ec2/routeTable:RouteTable"
	route                 = "aws:ec2/route:Route"
	routeTableAssociation = "aws:ec2/routeTableAssociation:RouteTableAssociation"
	internetGateway       = "aws:ec2/internetGateway:InternetGateway"
	flowLog               = "aws:ec2/flowLog:FlowLog"
	securityGroup         = "aws:ec2/securityGroup:SecurityGroup"
	defaultSecurityGroup  = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
	securityGroupRule     = "aws:ec2/securityGroupRule:SecurityGroupRule"
	vpcIngressRule        = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
)

// loadBalancers are the types whose security groups may face the internet.
var loadBalancers = []string{"aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer", "aws:elb/loadBalancer:LoadBalancer"}

// webPorts are the only ports a load balancer may open to the internet.
var webPorts = map[float64]bool{80: true, 443: true}

var awsNetworkRules = []Rule{
	{ID: "AWS-SG-001", Description: "no security group admits 0.0.0.0/0 or ::/0, except a load balancer's on TCP 80 and 443", Check: noInternetIngress},
	{ID: "AWS-NET-001", Description: "RDS and ElastiCache subnet groups hold only private subnets (no public IPs, no ELB role tag, no route to an internet gateway)", Check: dataSubnetsPrivate},
	{ID: "AWS-NET-002", Description: "RDS and ElastiCache are placed in a subnet group of this stack, never the default VPC", Check: dataStoresInStackSubnets},
	{ID: "AWS-NET-003", Description: "every VPC records flow logs", Check: vpcFlowLogs},
	{ID: "AWS-NET-004", Description: "the default security group of every VPC is managed and admits nothing", Check: defaultSecurityGroupClosed},
}

// ingressRule is one ingress permission, from any of the ways to write one.
type ingressRule struct {
	protocol string
	from, to float64
	cidrs    []string
}

func (r ingressRule) String() string {
	return fmt.Sprintf("%s %v-%v from %s", r.protocol, r.from, r.to, strings.Join(r.cidrs, ","))
}

// webOnly reports whether the rule opens TCP 80 or 443 and nothing else.
func (r ingressRule) webOnly() bool {
	return (r.protocol == "tcp" || r.protocol == "6") && r.from == r.to && webPorts[r.from]
}

func (r ingressRule) fromInternet() bool {
	for _, c := range r.cidrs {
		if internet[c] {
			return true
		}
	}
	return false
}

func inlineIngress(sg *plan.Resource) []ingressRule {
	var out []ingressRule
	for _, e := range list(sg.Inputs["ingress"]) {
		from, _ := number(get(e, "fromPort"))
		to, _ := number(get(e, "toPort"))
		out = append(out, ingressRule{
			protocol: strings.ToLower(str(get(e, "protocol"))), from: from, to: to,
			cidrs: append(stringList(get(e, "cidrBlocks")), stringList(get(e, "ipv6CidrBlocks"))...),
		})
	}
	return out
}

func noInternetIngress(s *Stack) []Finding {
	fronted := map[string]bool{}
	for _, lb := range s.Of(loadBalancers...) {
		for _, sg := range s.From(lb, "securityGroups", securityGroup) {
			fronted[sg.URN] = true
		}
	}
	var out []Finding
	check := func(r *plan.Resource, sgURN string, rules []ingressRule) {
		for _, rule := range rules {
			if !rule.fromInternet() {
				continue
			}
			if fronted[sgURN] && rule.webOnly() {
				continue
			}
			why := "the security group fronts no load balancer of this stack"
			if fronted[sgURN] {
				why = "a load balancer may open only TCP 80 and 443 to the internet"
			}
			out = append(out, at(r, "ingress %s admits the internet and %s; admit the load balancer's or the clients' security group instead", rule, why))
		}
	}
	for _, sg := range s.Of(securityGroup, defaultSecurityGroup) {
		check(sg, sg.URN, inlineIngress(sg))
	}
	for _, r := range s.Of(securityGroupRule) {
		if str(r.Inputs["type"]) != "ingress" {
			continue
		}
		from, _ := number(r.Inputs["fromPort"])
		to, _ := number(r.Inputs["toPort"])
		rule := ingressRule{protocol: strings.ToLower(str(r.Inputs["protocol"])), from: from, to: to,
			cidrs: append(stringList(r.Inputs["cidrBlocks"]), stringList(r.Inputs["ipv6CidrBlocks"])...)}
		for _, sg := range s.From(r, "securityGroupId", securityGroup) {
			check(r, sg.URN, []ingressRule{rule})
		}
		if len(s.From(r, "securityGroupId", securityGroup)) == 0 {
			check(r, "", []ingressRule{rule})
		}
	}
	for _, r := range s.Of(vpcIngressRule) {
		from, _ := number(r.Inputs["fromPort"])
		to, _ := number(r.Inputs["toPort"])
		var cidrs []string
		for _, k := range []string{"cidrIpv4", "cidrIpv6"} {
			if c := str(r.Inputs[k]); c != "" {
				cidrs = append(cidrs, c)
			}
		}
		rule := ingressRule{protocol: strings.ToLower(str(r.Inputs["ipProtocol"])), from: from, to: to, cidrs: cidrs}
		sgURN := ""
		if sgs := s.From(r, "securityGroupId", securityGroup); len(sgs) > 0 {
			sgURN = sgs[0].URN
		}
		check(r, sgURN, []ingressRule{rule})
	}
	return out
}

// subnetGroups are the subnet groups of the data stores, by type.
var subnetGroups = []string{rdsSubnetGroup, cacheSubnetGroup}

func dataSubnetsPrivate(s *Stack) []Finding {
	var out []Finding
	for _, g := range s.Of(subnetGroups...) {
		subnets := s.From(g, "subnetIds", subnet)
		if len(subnets) == 0 {
			out = append(out, at(g, "its subnetIds come from no subnet of this stack (%v), so whether they are private cannot be verified; pass the network component's private subnet IDs", g.Inputs["subnetIds"]))
			continue
		}
		if ids := list(g.Inputs["subnetIds"]); len(ids) > len(subnets) {
			out = append(out, at(g, "lists %d subnets but only %d come from subnets of this stack; pass only the network component's private subnet IDs", len(ids), len(subnets)))
		}
		for _, sn := range subnets {
			for _, why := range s.publicReasons(sn) {
				out = append(out, at(g, "subnet %s is public (%s); data stores belong in the private subnets", sn.Name, why))
			}
		}
	}
	return out
}

// publicReasons says what makes a subnet public, if anything.
func (s *Stack) publicReasons(sn *plan.Resource) []string {
	var why []string
	if truthy(sn.Inputs["mapPublicIpOnLaunch"]) {
		why = append(why, "mapPublicIpOnLaunch")
	}
	if get(sn.Inputs, "tags", "kubernetes.io/role/elb") == "1" {
		why = append(why, "tagged kubernetes.io/role/elb for internet-facing load balancers")
	}
	for _, a := range s.Of(routeTableAssociation) {
		if !dependsOnURN(s.From(a, "subnetId", subnet), sn.URN) {
			continue
		}
		for _, rt := range s.From(a, "routeTableId", routeTable) {
			if s.routesToInternet(rt) {
				why = append(why, "its route table "+rt.Name+" routes to an internet gateway")
			}
		}
	}
	return why
}

func (s *Stack) routesToInternet(rt *plan.Resource) bool {
	if len(s.From(rt, "routes", internetGateway)) > 0 {
		return true
	}
	for _, r := range s.Of(route) {
		if dependsOnURN(s.From(r, "routeTableId", routeTable), rt.URN) && len(s.From(r, "gatewayId", internetGateway)) > 0 {
			return true
		}
	}
	return false
}

func dependsOnURN(rs []*plan.Resource, urn string) bool {
	for _, r := range rs {
		if r.URN == urn {
			return true
		}
	}
	return false
}

func dataStoresInStackSubnets(s *Stack) []Finding {
	var out []Finding
	need := func(r *plan.Resource, input, groupType string) {
		if len(s.From(r, input, groupType)) == 0 {
			out = append(out, at(r, "%s is %v, not a subnet group of this stack, so it may land in the default VPC's public subnets; create a subnet group from the private subnets and pass its name", input, orDefault(r.Inputs[input], "unset")))
		}
	}
	for _, r := range s.standaloneRDS() {
		need(r, "dbSubnetGroupName", rdsSubnetGroup)
	}
	for _, r := range s.Of(rdsCluster) {
		need(r, "dbSubnetGroupName", rdsSubnetGroup)
	}
	for _, r := range s.Of(cacheGroup) {
		need(r, "subnetGroupName", cacheSubnetGroup)
	}
	return out
}

func vpcFlowLogs(s *Stack) []Finding {
	var out []Finding
	for _, v := range s.Of(vpc) {
		logged := false
		for _, f := range s.Of(flowLog) {
			logged = logged || dependsOnURN(s.From(f, "vpcId", vpc), v.URN)
		}
		if !logged {
			out = append(out, at(v, "no FlowLog records its traffic; add an aws:ec2/flowLog for the VPC (traffic type ALL)"))
		}
	}
	return out
}

func defaultSecurityGroupClosed(s *Stack) []Finding {
	var out []Finding
	for _, v := range s.Of(vpc) {
		var managed *plan.Resource
		for _, d := range s.Of(defaultSecurityGroup) {
			if dependsOnURN(s.From(d, "vpcId", vpc), v.URN) {
				managed = d
			}
		}
		switch {
		case managed == nil:
			out = append(out, at(v, "its default security group is not managed, so it keeps AWS's allow-all between members; adopt it with an aws:ec2/defaultSecurityGroup without rules"))
		case len(list(managed.Inputs["ingress"])) > 0 || len(list(managed.Inputs["egress"])) > 0:
			out = append(out, at(managed, "the default security group has rules; remove them so nothing that falls back to it is reachable"))
		}
	}
	return out
}
