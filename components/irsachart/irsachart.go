// Package irsachart installs a controller from its upstream chart together with the IRSA role it runs as: the role
// trusts exactly the service account the chart creates, and the chart annotates that account with the role, so the
// two can never name different accounts.
package irsachart

import (
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/stackauth-platform/infra/components/irsa"
	"github.com/stackauth-platform/infra/components/k8sbase"
)

// Args describe the chart, where it runs and what its service account may do in AWS.
type Args struct {
	Chart       k8sbase.Chart
	ReleaseName string
	Namespace   string
	// ServiceAccount is the account the chart creates (its serviceAccount.name value) and the role trusts.
	ServiceAccount string
	// Policy is the role's inline policy document.
	Policy pulumi.StringInput
	// OIDCProviderARN and OIDCIssuerURL are the cluster's IRSA identity provider.
	OIDCProviderARN pulumi.StringInput
	OIDCIssuerURL   pulumi.StringInput
	// Values are the chart's values other than serviceAccount.
	Values map[string]any
	// DependsOn are waited for by the release (not the role), e.g. a release that installs the chart's CRDs.
	DependsOn []pulumi.Resource
	Tags      map[string]string
}

// Install creates the role (named name, a child of the parent in opts) and then the release, whose
// serviceAccount values name the account and carry the role's ARN.
func Install(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*helmv3.Release, *irsa.Role, error) {
	role, err := irsa.NewRole(ctx, name, &irsa.Args{
		OIDCProviderARN: args.OIDCProviderARN,
		OIDCIssuerURL:   args.OIDCIssuerURL,
		Namespace:       args.Namespace,
		ServiceAccount:  args.ServiceAccount,
		Policy:          args.Policy,
		Tags:            args.Tags,
	}, opts...)
	if err != nil {
		return nil, nil, err
	}
	values := map[string]any{
		"serviceAccount": map[string]any{
			"create":      true,
			"name":        args.ServiceAccount,
			"annotations": map[string]any{"eks.amazonaws.com/role-arn": role.Arn},
		},
	}
	for k, v := range args.Values {
		values[k] = v
	}
	release, err := k8sbase.Release(ctx, name, k8sbase.ReleaseArgs{
		Chart:       args.Chart,
		ReleaseName: args.ReleaseName,
		Namespace:   args.Namespace,
		Values:      values,
	}, append(opts, pulumi.DependsOn(args.DependsOn))...)
	if err != nil {
		return nil, nil, err
	}
	return release, role, nil
}
