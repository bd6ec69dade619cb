// Package secretstore keeps the stack's secret environment in one AWS Secrets
// Manager secret, encrypted with its own KMS key. External Secrets Operator
// syncs it into the cluster, so no secret passes through Helm or Kubernetes
// objects that Pulumi writes.
package secretstore

import (
	"encoding/json"
	"sort"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/secretsmanager"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/stackauth-platform/infra/components/awsbase"
)

// Args name the secret and its entries.
type Args struct {
	// Name is the secret's name, e.g. stackauth/prod/app.
	Name string
	// Entries become the JSON object stored in the secret; every value is a
	// Pulumi secret.
	Entries map[string]pulumi.StringOutput
	// RecoveryWindowInDays delays deletion so a mistaken destroy can be undone.
	RecoveryWindowInDays int
	Tags                 map[string]string
}

// Store is the Secrets Manager component.
type Store struct {
	pulumi.ResourceState

	ARN       pulumi.StringOutput
	Name      pulumi.StringOutput
	KMSKeyARN pulumi.StringOutput
	// Keys are the entry names, sorted; consumers map them to env vars.
	Keys []string
}

// NewStore creates the key, the secret and its current version.
func NewStore(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Store, error) {
	s := &Store{}
	if err := ctx.RegisterComponentResource("stackauth:secrets:SecretStore", name, s, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(s)

	key, err := awsbase.Key(ctx, name, "Secrets Manager secret "+args.Name, args.Tags, parent)
	if err != nil {
		return nil, err
	}
	secret, err := secretsmanager.NewSecret(ctx, name, &secretsmanager.SecretArgs{
		Name:                 pulumi.String(args.Name),
		Description:          pulumi.String("Stack Auth environment (synced into the cluster by External Secrets)"),
		KmsKeyId:             key.Arn,
		RecoveryWindowInDays: pulumi.Int(args.RecoveryWindowInDays),
		Tags:                 pulumi.ToStringMap(args.Tags),
	}, parent)
	if err != nil {
		return nil, err
	}

	for k := range args.Entries {
		s.Keys = append(s.Keys, k)
	}
	sort.Strings(s.Keys)
	values := make([]any, len(s.Keys))
	for i, k := range s.Keys {
		values[i] = args.Entries[k]
	}
	document := pulumi.ToSecret(pulumi.All(values...).ApplyT(func(v []any) (string, error) {
		m := make(map[string]string, len(v))
		for i, k := range s.Keys {
			m[k] = v[i].(string)
		}
		b, err := json.Marshal(m)
		return string(b), err
	})).(pulumi.StringOutput)
	if _, err := secretsmanager.NewSecretVersion(ctx, name, &secretsmanager.SecretVersionArgs{
		SecretId:     secret.ID(),
		SecretString: document,
	}, parent); err != nil {
		return nil, err
	}

	s.ARN = secret.Arn
	s.Name = secret.Name
	s.KMSKeyARN = key.Arn
	if err := ctx.RegisterResourceOutputs(s, pulumi.Map{"arn": s.ARN}); err != nil {
		return nil, err
	}
	return s, nil
}
