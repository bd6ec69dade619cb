// Package externaldns installs external-dns, which reads the stack's Gateway API routes and writes their hosts
// (api.<domain>, dashboard.<domain>) into the Route53 hosted zone as aliases of the edge's load balancer. Its IRSA
// role may change records of that one zone only, and only under the stack's domain.
package externaldns

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/stackauth-platform/infra/components/iampolicy"
	"github.com/stackauth-platform/infra/components/irsachart"
	"github.com/stackauth-platform/infra/components/k8sbase"
)

// Chart is the pinned external-dns chart (1.22.0 runs external-dns v0.22.0).
var Chart = k8sbase.Chart{Name: "external-dns", Version: "1.22.0", Repo: "https://kubernetes-sigs.github.io/external-dns/"}

// Namespace and ServiceAccount are where external-dns runs and who it is.
const (
	Namespace      = "kube-system"
	ServiceAccount = "external-dns"
)

// Policy is upsert-only: external-dns creates and updates records but never deletes one. The hosted zone may hold
// records of other systems and other stacks, and a route briefly missing during a rollout must not take the API's
// name out of DNS. The cost: a host removed from the routes keeps its record until someone deletes it.
const Policy = "upsert-only"

// RecordTypes are the records external-dns writes: its default managed types (alias A/AAAA, or CNAME) for the load
// balancer, and the TXT ownership records.
var RecordTypes = []string{"A", "AAAA", "CNAME", "TXT"}

// Args describe the zone and the stack.
type Args struct {
	// OwnerID marks the TXT ownership records, so stacks sharing a zone never touch each other's records.
	OwnerID string
	// Domain is the stack's domain: the only names external-dns manages.
	Domain string
	// ZoneID is the hosted zone (Z...) holding Domain.
	ZoneID    string
	Partition pulumi.StringInput
	// OIDCProviderARN and OIDCIssuerURL are the cluster's IRSA identity provider.
	OIDCProviderARN pulumi.StringInput
	OIDCIssuerURL   pulumi.StringInput
	Tags            map[string]string
}

// ExternalDNS is the installed external-dns.
type ExternalDNS struct {
	pulumi.ResourceState

	Release pulumi.Resource
	RoleARN pulumi.StringOutput
}

// NewExternalDNS installs external-dns. Pass the AWS and kubernetes providers in opts (pulumi.Providers).
func NewExternalDNS(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*ExternalDNS, error) {
	e := &ExternalDNS{}
	if err := ctx.RegisterComponentResource("stackauth:externaldns:ExternalDNS", name, e, opts...); err != nil {
		return nil, err
	}

	release, role, err := irsachart.Install(ctx, name, irsachart.Args{
		Chart:           Chart,
		ReleaseName:     "external-dns",
		Namespace:       Namespace,
		ServiceAccount:  ServiceAccount,
		Policy:          iampolicy.Document(Statements(args.Partition, args.ZoneID, args.Domain)...),
		OIDCProviderARN: args.OIDCProviderARN,
		OIDCIssuerURL:   args.OIDCIssuerURL,
		Values: map[string]any{
			"provider":      map[string]any{"name": "aws"},
			"sources":       []string{"gateway-httproute"},
			"policy":        Policy,
			"registry":      "txt",
			"txtOwnerId":    args.OwnerID,
			"domainFilters": []string{args.Domain},
			// Only this zone, even if the role could list others.
			"extraArgs": []string{"--zone-id-filter=" + args.ZoneID},
			"resources": map[string]any{
				"requests": map[string]any{"cpu": "50m", "memory": "64Mi"},
				"limits":   map[string]any{"memory": "128Mi"},
			},
		},
		Tags: args.Tags,
	}, pulumi.Parent(e))
	if err != nil {
		return nil, err
	}

	e.Release = release
	e.RoleARN = role.Arn
	if err := ctx.RegisterResourceOutputs(e, pulumi.Map{"roleArn": e.RoleARN}); err != nil {
		return nil, err
	}
	return e, nil
}

// Statements are external-dns's permissions: record changes in the one hosted zone, limited to names under the
// domain and to the record types it writes; reads of that zone; and the zone listing, which IAM cannot scope.
func Statements(partition pulumi.StringInput, zoneID, domain string) []iampolicy.Statement {
	zone := pulumi.StringArray{pulumi.Sprintf("arn:%s:route53:::hostedzone/%s", partition, zoneID)}
	return []iampolicy.Statement{
		{
			Actions:   []string{"route53:ChangeResourceRecordSets"},
			Resources: zone,
			Condition: pulumi.ToMap(map[string]any{
				"ForAllValues:StringLike": map[string]any{
					"route53:ChangeResourceRecordSetsNormalizedRecordNames": []string{domain, fmt.Sprintf("*.%s", domain)},
				},
				"ForAllValues:StringEquals": map[string]any{"route53:ChangeResourceRecordSetsRecordTypes": RecordTypes},
			}),
		},
		{
			Actions:   []string{"route53:ListResourceRecordSets", "route53:ListTagsForResources"},
			Resources: zone,
		},
		{
			Actions:   []string{"route53:ListHostedZones"},
			Resources: pulumi.ToStringArray([]string{"*"}),
		},
	}
}
