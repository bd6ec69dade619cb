// Package iampolicy writes IAM policy documents as JSON from Go values, so
// every policy of the program has one shape and resource ARNs that are still
// unknown (outputs) are filled in when they resolve.
package iampolicy

import (
	"encoding/json"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Statement is one Allow statement. Deny is not needed by this program.
type Statement struct {
	Actions   []string
	Resources pulumi.StringArrayInput
	// Condition is an IAM condition block, e.g. {"StringEquals": {...}}.
	Condition pulumi.MapInput
}

// Document renders statements into a policy JSON string output.
func Document(statements ...Statement) pulumi.StringOutput {
	var list pulumi.Array
	for _, s := range statements {
		st := pulumi.Map{
			"Effect":   pulumi.String("Allow"),
			"Action":   pulumi.ToStringArray(s.Actions),
			"Resource": s.Resources,
		}
		if s.Condition != nil {
			st["Condition"] = s.Condition
		}
		list = append(list, st)
	}
	return pulumi.JSONMarshal(pulumi.Map{
		"Version":   pulumi.String("2012-10-17"),
		"Statement": list,
	})
}

// AssumeByService is the trust policy that lets an AWS service assume a role.
func AssumeByService(service string) pulumi.StringOutput {
	return pulumi.JSONMarshal(pulumi.Map{
		"Version": pulumi.String("2012-10-17"),
		"Statement": pulumi.Array{pulumi.Map{
			"Effect":    pulumi.String("Allow"),
			"Principal": pulumi.Map{"Service": pulumi.String(service)},
			"Action":    pulumi.String("sts:AssumeRole"),
		}},
	})
}

// AssumeByServiceAccount is the IRSA trust policy: only the named Kubernetes
// service account, presenting a token from the cluster's OIDC issuer with the
// STS audience, may assume the role.
func AssumeByServiceAccount(oidcProviderARN, oidcIssuerURL pulumi.StringInput, namespace, serviceAccount string) pulumi.StringOutput {
	return pulumi.All(oidcProviderARN, oidcIssuerURL).ApplyT(func(v []any) (string, error) {
		issuer := trimScheme(v[1].(string))
		doc := map[string]any{
			"Version": "2012-10-17",
			"Statement": []any{map[string]any{
				"Effect":    "Allow",
				"Principal": map[string]any{"Federated": v[0].(string)},
				"Action":    "sts:AssumeRoleWithWebIdentity",
				"Condition": map[string]any{"StringEquals": map[string]any{
					issuer + ":sub": "system:serviceaccount:" + namespace + ":" + serviceAccount,
					issuer + ":aud": "sts.amazonaws.com",
				}},
			}},
		}
		b, err := json.Marshal(doc)
		return string(b), err
	}).(pulumi.StringOutput)
}

func trimScheme(url string) string {
	const scheme = "https://"
	if len(url) > len(scheme) && url[:len(scheme)] == scheme {
		return url[len(scheme):]
	}
	return url
}

// AttachManaged attaches AWS-managed policies to a role, one attachment each,
// named after the policy so a plan shows what was granted.
func AttachManaged(ctx *pulumi.Context, prefix string, role pulumi.StringInput, arns []string, opts ...pulumi.ResourceOption) error {
	for _, arn := range arns {
		if _, err := iam.NewRolePolicyAttachment(ctx, prefix+"-"+arn[strings.LastIndex(arn, "/")+1:], &iam.RolePolicyAttachmentArgs{
			Role:      role,
			PolicyArn: pulumi.String(arn),
		}, opts...); err != nil {
			return err
		}
	}
	return nil
}
