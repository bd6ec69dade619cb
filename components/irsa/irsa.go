// Package irsa creates IAM roles for Kubernetes service accounts (IRSA): each
// role trusts exactly one service account of one namespace and carries only
// the permissions its workload needs.
package irsa

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/stackauth-platform/infra/components/iampolicy"
)

// Args name the service account and its permissions.
type Args struct {
	OIDCProviderARN pulumi.StringInput
	OIDCIssuerURL   pulumi.StringInput
	Namespace       string
	ServiceAccount  string
	// Policy is an inline policy document scoped to the workload's resources.
	Policy pulumi.StringInput
	// ManagedPolicyARNs are AWS-managed policies, for add-ons whose needs AWS
	// publishes and maintains (vpc-cni, EBS CSI).
	ManagedPolicyARNs []string
	Tags              map[string]string
}

// Role is one IRSA role.
type Role struct {
	pulumi.ResourceState

	Arn  pulumi.StringOutput
	Name pulumi.StringOutput
}

// NewRole creates the role, its trust policy and its permissions.
func NewRole(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Role, error) {
	r := &Role{}
	if err := ctx.RegisterComponentResource("stackauth:iam:IrsaRole", name, r, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(r)
	role, err := iam.NewRole(ctx, name, &iam.RoleArgs{
		AssumeRolePolicy: iampolicy.AssumeByServiceAccount(args.OIDCProviderARN, args.OIDCIssuerURL, args.Namespace, args.ServiceAccount),
		Tags:             pulumi.ToStringMap(args.Tags),
	}, parent)
	if err != nil {
		return nil, err
	}
	if args.Policy != nil {
		if _, err := iam.NewRolePolicy(ctx, name, &iam.RolePolicyArgs{
			Role:   role.ID(),
			Policy: args.Policy,
		}, parent); err != nil {
			return nil, err
		}
	}
	if err := iampolicy.AttachManaged(ctx, name, role.Name, args.ManagedPolicyARNs, parent); err != nil {
		return nil, err
	}
	r.Arn = role.Arn
	r.Name = role.Name
	if err := ctx.RegisterResourceOutputs(r, pulumi.Map{"arn": r.Arn}); err != nil {
		return nil, err
	}
	return r, nil
}
