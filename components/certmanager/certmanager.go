// Package certmanager runs cert-manager and the ClusterIssuers the edge's certificates come from: Let's Encrypt
// (production and staging directories) solving HTTP-01 through the Gateway API edge, or a self-signed issuer for
// clusters the internet cannot reach.
package certmanager

import (
	"errors"
	"fmt"
	"net/mail"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/stackauth-platform/infra/components/k8sbase"
	"github.com/stackauth-platform/infra/components/namespace"
)

// Chart is the pinned cert-manager chart; from v1.15 it installs its CRDs with crds.enabled.
var Chart = k8sbase.Chart{Name: "cert-manager", Version: "v1.21.2", Repo: "https://charts.jetstack.io"}

// APIVersion of ClusterIssuer in the pinned chart.
const APIVersion = "cert-manager.io/v1"

// Issuer names. A production stack's certificates come from LetsEncryptProd; every other stack uses
// LetsEncryptStaging (untrusted certificates, but generous rate limits), or SelfSigned off the internet.
const (
	LetsEncryptProd    = "letsencrypt-prod"
	LetsEncryptStaging = "letsencrypt-staging"
	SelfSigned         = "selfsigned"
)

// ACME directories of Let's Encrypt.
var acmeServers = map[string]string{
	LetsEncryptProd:    "https://acme-v02.api.letsencrypt.org/directory",
	LetsEncryptStaging: "https://acme-staging-v02.api.letsencrypt.org/directory",
}

// DefaultNamespace is where cert-manager runs (and where ClusterIssuers keep their ACME account keys).
const DefaultNamespace = "cert-manager"

// Args configure cert-manager and its issuers. Set exactly one of ACME and SelfSigned.
type Args struct {
	// Namespace cert-manager runs in (default cert-manager); the component creates it.
	Namespace string
	// HighAvailability runs two replicas of the controller, webhook and cainjector with disruption budgets.
	HighAvailability bool
	// ACME creates the two Let's Encrypt issuers.
	ACME *ACME
	// SelfSigned creates the self-signed issuer instead, for clusters Let's Encrypt cannot reach (local stacks).
	SelfSigned bool
	// GatewayAPIRelease installs the Gateway API CRDs. cert-manager only watches Gateways and HTTPRoutes when
	// their CRDs exist at its start, so it is installed after this release.
	GatewayAPIRelease pulumi.Resource
}

// ACME configures the Let's Encrypt issuers.
type ACME struct {
	// Email is the ACME account contact (expiry and policy notices).
	Email string
	// Production selects letsencrypt-prod as the stack's issuer; otherwise letsencrypt-staging.
	Production bool
	// Solver is the Gateway listener the HTTP-01 challenge routes attach to (the plain-HTTP listener).
	Solver GatewayListener
}

// GatewayListener names one listener of a Gateway.
type GatewayListener struct {
	Gateway     string
	Namespace   string
	SectionName string
}

// CertManager is cert-manager and its ClusterIssuers.
type CertManager struct {
	pulumi.ResourceState

	// Release installs cert-manager and its CRDs.
	Release *helmv3.Release
	// IssuerName is the ClusterIssuer the stack's certificates use (the value of cert-manager.io/cluster-issuer).
	IssuerName string
	// Issuer is that ClusterIssuer; a Gateway that names it should depend on it.
	Issuer *apiextensions.CustomResource
	// Issuers are all ClusterIssuers created, by name.
	Issuers map[string]*apiextensions.CustomResource
}

func (a Args) withDefaults() Args {
	if a.Namespace == "" {
		a.Namespace = DefaultNamespace
	}
	return a
}

func (a Args) validate() error {
	var errs []error
	bad := func(format string, v ...any) { errs = append(errs, fmt.Errorf("certmanager: "+format, v...)) }
	errs = append(errs, k8sbase.NameErrors("certmanager", k8sbase.NameField{Field: "Namespace", Value: a.Namespace})...)
	if (a.ACME == nil) == !a.SelfSigned {
		bad("set exactly one of args.ACME (Let's Encrypt, for clusters the internet reaches) and args.SelfSigned (for local clusters)")
	}
	if a.ACME != nil {
		if addr, err := mail.ParseAddress(a.ACME.Email); err != nil || addr.Address != a.ACME.Email {
			bad("args.ACME.Email %q is not an email address: give the team address Let's Encrypt sends expiry notices to", a.ACME.Email)
		}
		// The solver names the edge Gateway's plain-HTTP listener.
		s := a.ACME.Solver
		errs = append(errs, k8sbase.NameErrors("certmanager", k8sbase.NameField{Field: "ACME.Solver.Gateway", Value: s.Gateway},
			k8sbase.NameField{Field: "ACME.Solver.Namespace", Value: s.Namespace}, k8sbase.NameField{Field: "ACME.Solver.SectionName", Value: s.SectionName})...)
	}
	if a.GatewayAPIRelease == nil {
		bad("args.GatewayAPIRelease is nil: pass the edge release that installs the Gateway API CRDs")
	}
	return errors.Join(errs...)
}

// IssuerFor is the ClusterIssuer a stack's certificates come from.
func IssuerFor(acme *ACME) string {
	switch {
	case acme == nil:
		return SelfSigned
	case acme.Production:
		return LetsEncryptProd
	default:
		return LetsEncryptStaging
	}
}

// Values are cert-manager's chart values: CRDs installed and kept on uninstall (deleting them would delete every
// certificate), Gateway API support on, and in HA two replicas of each part with disruption budgets.
func Values(a Args) map[string]any {
	values := k8sbase.Replicas(a.HighAvailability)
	values["crds"] = map[string]any{"enabled": true, "keep": true}
	values["config"] = map[string]any{
		"apiVersion": "controller.config.cert-manager.io/v1alpha1",
		"kind":       "ControllerConfiguration",
		// Solve HTTP-01 with HTTPRoutes and issue certificates for annotated Gateways.
		"gatewayAPI": map[string]any{"enabled": true},
	}
	values["webhook"] = k8sbase.Replicas(a.HighAvailability)
	values["cainjector"] = k8sbase.Replicas(a.HighAvailability)
	return values
}

// IssuerSpecs are the specs of the ClusterIssuers args ask for, by name.
func IssuerSpecs(a Args) map[string]map[string]any {
	if a.ACME == nil {
		return map[string]map[string]any{SelfSigned: {"selfSigned": map[string]any{}}}
	}
	specs := map[string]map[string]any{}
	for name, server := range acmeServers {
		specs[name] = map[string]any{"acme": map[string]any{
			"email":               a.ACME.Email,
			"server":              server,
			"privateKeySecretRef": map[string]any{"name": name + "-account-key"},
			"solvers": []any{map[string]any{"http01": map[string]any{"gatewayHTTPRoute": map[string]any{
				"parentRefs": []any{map[string]any{
					"group":       "gateway.networking.k8s.io",
					"kind":        "Gateway",
					"name":        a.ACME.Solver.Gateway,
					"namespace":   a.ACME.Solver.Namespace,
					"sectionName": a.ACME.Solver.SectionName,
				}},
			}}}},
		}}
	}
	return specs
}

// NewCertManager installs cert-manager and its issuers. Pass the kubernetes provider in opts.
func NewCertManager(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*CertManager, error) {
	a := args.withDefaults()
	if err := a.validate(); err != nil {
		return nil, err
	}
	component := &CertManager{IssuerName: IssuerFor(a.ACME), Issuers: map[string]*apiextensions.CustomResource{}}
	if err := ctx.RegisterComponentResource("stackauth:tls:CertManager", name, component, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(component)
	ns, err := namespace.NewNamespace(ctx, name+"-namespace", namespace.Args{Name: a.Namespace}, parent)
	if err != nil {
		return nil, err
	}
	release, err := k8sbase.Release(ctx, name, k8sbase.ReleaseArgs{
		Chart: Chart, ReleaseName: "cert-manager", Namespace: a.Namespace, Values: Values(a),
	}, parent, pulumi.DependsOn([]pulumi.Resource{ns.Resource, a.GatewayAPIRelease}))
	if err != nil {
		return nil, err
	}
	specs := IssuerSpecs(a)
	for _, issuer := range []string{LetsEncryptProd, LetsEncryptStaging, SelfSigned} {
		spec, ok := specs[issuer]
		if !ok {
			continue
		}
		cr, err := k8sbase.CustomResource(ctx, issuer, k8sbase.Object{
			APIVersion: APIVersion, Kind: "ClusterIssuer", Name: issuer, Fields: map[string]any{"spec": spec},
		}, release, parent)
		if err != nil {
			return nil, err
		}
		component.Issuers[issuer] = cr
	}
	component.Release = release
	component.Issuer = component.Issuers[component.IssuerName]
	if err := ctx.RegisterResourceOutputs(component, pulumi.Map{"issuerName": pulumi.String(component.IssuerName)}); err != nil {
		return nil, err
	}
	return component, nil
}
