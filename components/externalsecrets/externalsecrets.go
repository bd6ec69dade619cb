// Package externalsecrets runs External Secrets Operator and syncs the stack's Secrets Manager secret into the app
// namespace as one Kubernetes Secret. No secret value passes through Pulumi's Kubernetes objects or Helm values:
// Pulumi writes only where to read (the secret's ARN) and who may read it (an IRSA role).
package externalsecrets

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/stackauth-platform/infra/components/iampolicy"
	"github.com/stackauth-platform/infra/components/irsa"
	"github.com/stackauth-platform/infra/components/k8sbase"
	"github.com/stackauth-platform/infra/components/namespace"
)

// Chart is the pinned External Secrets Operator chart. Its CRDs serve external-secrets.io/v1 (v1beta1 is no
// longer served), so the stores and ExternalSecrets below use v1.
var Chart = k8sbase.Chart{Name: "external-secrets", Version: "1.3.2", Repo: "https://charts.external-secrets.io"}

// APIVersion of the SecretStore and ExternalSecret kinds in the pinned chart.
const APIVersion = "external-secrets.io/v1"

// Defaults for optional args.
const (
	DefaultNamespace       = "external-secrets"
	DefaultReaderAccount   = "secrets-reader"
	DefaultRefreshInterval = "1h"
)

// Args configure the operator and the one sync of the stack's secret.
type Args struct {
	// Namespace the operator runs in (default external-secrets); the component creates it.
	Namespace string
	// HighAvailability runs two replicas of the controller (with leader election), the webhook and the cert
	// controller, each with a PodDisruptionBudget.
	HighAvailability bool

	// AppNamespace is where the SecretStore, the ExternalSecret and the Secret they make live. It must exist:
	// pass the resource that creates it in AppNamespaceResource.
	AppNamespace         string
	AppNamespaceResource pulumi.Resource
	// TargetSecret is the name of the Kubernetes Secret to produce (the chart's stack-backend-secrets).
	TargetSecret string
	// Keys, when set, are the only keys of the JSON secret copied into TargetSecret, so secrets meant for other
	// consumers (the Grafana admin password) never reach the app pods' env. Empty copies every key.
	Keys []string
	// RefreshInterval is how often the Secret is re-read from Secrets Manager (default 1h), so a rotated value
	// reaches the cluster without a deploy.
	RefreshInterval string
	// ReaderServiceAccount is the service account in AppNamespace whose IRSA role may read the secret (default
	// secrets-reader). Only the SecretStore uses it: no pod runs as it.
	ReaderServiceAccount string

	// Source is the AWS Secrets Manager secret to sync: every key of its JSON object becomes a key of TargetSecret.
	Source SecretsManagerSource
}

// SecretsManagerSource names the secret and the way to reach it.
type SecretsManagerSource struct {
	Region    string
	SecretARN pulumi.StringInput
	// KMSKeyARN is the customer-managed key the secret is encrypted with; the role may decrypt with it only
	// through Secrets Manager.
	KMSKeyARN pulumi.StringInput
	// OIDCProviderARN and OIDCIssuerURL are the cluster's IRSA identity provider.
	OIDCProviderARN pulumi.StringInput
	OIDCIssuerURL   pulumi.StringInput
	Tags            map[string]string
}

// Operator is External Secrets Operator plus the sync of one secret.
type Operator struct {
	pulumi.ResourceState

	// Release installs the operator and the CRDs of every external-secrets.io kind.
	Release *helmv3.Release
	// StoreName is the SecretStore in AppNamespace; other ExternalSecrets of the namespace may use it.
	StoreName string
	// Store is the SecretStore; ExternalSecrets that use it should depend on it.
	Store *apiextensions.CustomResource
	// ExternalSecret produces TargetSecret; workloads that read the Secret depend on it.
	ExternalSecret *apiextensions.CustomResource
	// SecretName is TargetSecret.
	SecretName string
	// ReaderRoleARN is the IRSA role the SecretStore authenticates as.
	ReaderRoleARN pulumi.StringOutput
}

func (a Args) withDefaults() Args {
	if a.Namespace == "" {
		a.Namespace = DefaultNamespace
	}
	if a.RefreshInterval == "" {
		a.RefreshInterval = DefaultRefreshInterval
	}
	if a.ReaderServiceAccount == "" {
		a.ReaderServiceAccount = DefaultReaderAccount
	}
	return a
}

func (a Args) validate() error {
	var errs []error
	bad := func(format string, v ...any) { errs = append(errs, fmt.Errorf("externalsecrets: "+format, v...)) }
	errs = append(errs, k8sbase.NameErrors("externalsecrets", k8sbase.NameField{Field: "Namespace", Value: a.Namespace},
		k8sbase.NameField{Field: "AppNamespace", Value: a.AppNamespace}, k8sbase.NameField{Field: "ReaderServiceAccount", Value: a.ReaderServiceAccount})...)
	if a.Namespace == a.AppNamespace {
		bad("args.Namespace and args.AppNamespace are both %q: run the operator in a namespace of its own", a.Namespace)
	}
	if a.AppNamespaceResource == nil {
		bad("args.AppNamespaceResource is nil: pass the Namespace resource of %q so the store is created after it", a.AppNamespace)
	}
	if msgs := validation.IsDNS1123Subdomain(a.TargetSecret); len(msgs) > 0 {
		bad("args.TargetSecret %q is not a Secret name (%s): for example \"stack-backend-secrets\"", a.TargetSecret, strings.Join(msgs, "; "))
	}
	if d, err := time.ParseDuration(a.RefreshInterval); err != nil || d < time.Minute {
		bad("args.RefreshInterval %q is not a duration of at least 1m: write it like \"1h\" (each refresh is a paid Secrets Manager call)", a.RefreshInterval)
	}
	s := a.Source
	if s.Region == "" {
		bad("args.Source.Region is empty: give the region of the Secrets Manager secret, like us-east-1")
	}
	for _, f := range []struct {
		field string
		value pulumi.StringInput
	}{{"SecretARN", s.SecretARN}, {"KMSKeyARN", s.KMSKeyARN}, {"OIDCProviderARN", s.OIDCProviderARN}, {"OIDCIssuerURL", s.OIDCIssuerURL}} {
		if f.value == nil {
			bad("args.Source.%s is nil: pass the output of the secretstore / cluster component", f.field)
		}
	}
	return errors.Join(errs...)
}

// Values are the operator chart's values: CRDs installed, non-root and read-only as the chart allows, and in HA
// two replicas of each part with leader election and disruption budgets. No credentials: the controller itself
// has no AWS permissions; each SecretStore authenticates with its own service account.
func Values(a Args) map[string]any {
	a = a.withDefaults()
	values := k8sbase.Replicas(a.HighAvailability)
	values["installCRDs"] = true
	values["leaderElect"] = a.HighAvailability
	values["serviceAccount"] = map[string]any{"create": true, "name": "external-secrets"}
	values["resources"] = map[string]any{
		"requests": map[string]any{"cpu": "50m", "memory": "128Mi"},
		"limits":   map[string]any{"memory": "512Mi"},
	}
	values["webhook"] = k8sbase.Replicas(a.HighAvailability)
	values["certController"] = k8sbase.Replicas(a.HighAvailability)
	return values
}

// ReaderPolicy is the IAM policy of the reader role: read this one secret, and decrypt with its key only when
// Secrets Manager asks on the role's behalf.
func ReaderPolicy(region string, secretARN, kmsKeyARN pulumi.StringInput) pulumi.StringOutput {
	return iampolicy.Document(
		iampolicy.Statement{
			Actions:   []string{"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"},
			Resources: pulumi.StringArray{secretARN},
		},
		iampolicy.Statement{
			Actions:   []string{"kms:Decrypt"},
			Resources: pulumi.StringArray{kmsKeyARN},
			Condition: pulumi.Map{"StringEquals": pulumi.Map{
				"kms:ViaService": pulumi.String("secretsmanager." + region + ".amazonaws.com"),
			}},
		},
	)
}

// NewOperator installs the operator and syncs the secret. Pass the kubernetes provider (pulumi.Providers with both
// the kubernetes and the aws provider) in opts.
func NewOperator(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Operator, error) {
	a := args.withDefaults()
	if err := a.validate(); err != nil {
		return nil, err
	}
	component := &Operator{StoreName: "aws-secrets-manager", SecretName: a.TargetSecret}
	if err := ctx.RegisterComponentResource("stackauth:secrets:ExternalSecrets", name, component, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(component)

	ns, err := namespace.NewNamespace(ctx, name+"-namespace", namespace.Args{Name: a.Namespace}, parent)
	if err != nil {
		return nil, err
	}
	release, err := k8sbase.Release(ctx, name, k8sbase.ReleaseArgs{
		Chart: Chart, ReleaseName: "external-secrets", Namespace: a.Namespace, Values: Values(a),
	}, parent, pulumi.DependsOn([]pulumi.Resource{ns.Resource}))
	if err != nil {
		return nil, err
	}

	role, err := irsa.NewRole(ctx, name+"-reader", &irsa.Args{
		OIDCProviderARN: a.Source.OIDCProviderARN,
		OIDCIssuerURL:   a.Source.OIDCIssuerURL,
		Namespace:       a.AppNamespace,
		ServiceAccount:  a.ReaderServiceAccount,
		Policy:          ReaderPolicy(a.Source.Region, a.Source.SecretARN, a.Source.KMSKeyARN),
		Tags:            a.Source.Tags,
	}, parent)
	if err != nil {
		return nil, err
	}
	inApp := pulumi.DependsOn([]pulumi.Resource{a.AppNamespaceResource})
	reader, err := corev1.NewServiceAccount(ctx, name+"-reader", &corev1.ServiceAccountArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:        pulumi.String(a.ReaderServiceAccount),
			Namespace:   pulumi.String(a.AppNamespace),
			Annotations: pulumi.StringMap{"eks.amazonaws.com/role-arn": role.Arn},
		},
		// The operator requests tokens for this account through the TokenRequest API; no pod mounts one.
		AutomountServiceAccountToken: pulumi.Bool(false),
	}, parent, inApp)
	if err != nil {
		return nil, err
	}

	store, err := k8sbase.CustomResource(ctx, name+"-store", k8sbase.Object{
		APIVersion: APIVersion, Kind: "SecretStore", Name: component.StoreName, Namespace: a.AppNamespace,
		Fields: map[string]any{"spec": pulumi.Map{"provider": pulumi.Map{"aws": pulumi.Map{
			"service": pulumi.String("SecretsManager"),
			"region":  pulumi.String(a.Source.Region),
			"auth": pulumi.Map{"jwt": pulumi.Map{"serviceAccountRef": pulumi.Map{
				"name": reader.Metadata.Name().Elem(),
			}}},
		}}}},
	}, release, parent, inApp)
	if err != nil {
		return nil, err
	}
	externalSecret, err := k8sbase.CustomResource(ctx, name+"-"+a.TargetSecret, k8sbase.Object{
		APIVersion: APIVersion, Kind: "ExternalSecret", Name: a.TargetSecret, Namespace: a.AppNamespace,
		Fields: map[string]any{"spec": pulumi.Map{
			"refreshInterval": pulumi.String(a.RefreshInterval),
			"secretStoreRef":  pulumi.Map{"kind": pulumi.String("SecretStore"), "name": store.Metadata.Name().Elem()},
			// Owner: the Secret belongs to the ExternalSecret and goes when it goes; Retain keeps the last values
			// if Secrets Manager becomes unreachable, so running pods can still restart.
			"target": pulumi.Map{
				"name":           pulumi.String(a.TargetSecret),
				"creationPolicy": pulumi.String("Owner"),
				"deletionPolicy": pulumi.String("Retain"),
			},
			dataField(a): data(a),
		}},
	}, release, parent, inApp)
	if err != nil {
		return nil, err
	}

	component.Release = release
	component.Store = store
	component.ExternalSecret = externalSecret
	component.ReaderRoleARN = role.Arn
	if err := ctx.RegisterResourceOutputs(component, pulumi.Map{
		"storeName":     pulumi.String(component.StoreName),
		"secretName":    pulumi.String(component.SecretName),
		"readerRoleArn": role.Arn,
	}); err != nil {
		return nil, err
	}
	return component, nil
}

// dataField and data map the JSON secret into the Secret: the listed keys one by one, or with no list every key
// (extract), each becoming an env var of the pods.
func dataField(a Args) string {
	if len(a.Keys) > 0 {
		return "data"
	}
	return "dataFrom"
}

func data(a Args) pulumi.Array {
	if len(a.Keys) == 0 {
		return pulumi.Array{pulumi.Map{"extract": pulumi.Map{"key": a.Source.SecretARN}}}
	}
	var out pulumi.Array
	for _, k := range a.Keys {
		out = append(out, pulumi.Map{
			"secretKey": pulumi.String(k),
			"remoteRef": pulumi.Map{"key": a.Source.SecretARN, "property": pulumi.String(k)},
		})
	}
	return out
}
