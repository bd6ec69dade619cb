// Package k8sbase holds the two Kubernetes building blocks the in-cluster components share: a pinned upstream Helm
// release and a custom resource, so every release of the program is installed the same careful way and every custom
// resource carries the dependency on the release that installs its CRD.
package k8sbase

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Chart is an upstream chart pinned to one version.
type Chart struct {
	// Name is the chart's name in Repo, or an oci:// reference (then Repo is empty).
	Name string
	// Version is the exact chart version; ranges and "latest" are refused so an upgrade is a reviewed change.
	Version string
	// Repo is the chart repository URL (https://...); empty for oci:// charts.
	Repo string
}

// ReleaseTimeoutSeconds bounds an install or upgrade; past it the atomic release rolls back.
const ReleaseTimeoutSeconds = 600

// ReleaseArgs describe one release of an upstream chart.
type ReleaseArgs struct {
	Chart Chart
	// ReleaseName is the Helm release name (fixed, so object names derived from it are predictable).
	ReleaseName string
	// Namespace must exist already (created by components/namespace with its Pod Security labels).
	Namespace string
	// Values are plain, non-secret values: they are stored in the Pulumi state and the Helm release in clear.
	Values map[string]any
}

// Validate reports a chart that is not pinned or named incompletely.
func (c Chart) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("chart name is empty: give the chart's name in its repository or its oci:// reference"))
	}
	if c.Version == "" || c.Version == "latest" || strings.ContainsAny(c.Version, "^~*<>= ,|") {
		errs = append(errs, fmt.Errorf("chart %s version %q is not pinned: give one exact version", c.Name, c.Version))
	}
	oci := strings.HasPrefix(c.Name, "oci://")
	switch {
	case oci && c.Repo != "":
		errs = append(errs, fmt.Errorf("chart %s is an oci:// reference: leave Repo empty", c.Name))
	case !oci && !strings.HasPrefix(c.Repo, "https://"):
		errs = append(errs, fmt.Errorf("chart %s repository %q is not an https:// URL", c.Name, c.Repo))
	}
	return errors.Join(errs...)
}

// Release installs a pinned upstream chart with its CRDs. Failed installs and upgrades roll back (atomic), and
// CRDs are installed by Helm on first install; opts carry the parent and the dependencies.
func Release(ctx *pulumi.Context, name string, args ReleaseArgs, opts ...pulumi.ResourceOption) (*helmv3.Release, error) {
	if err := args.Chart.Validate(); err != nil {
		return nil, fmt.Errorf("release %s: %w", name, err)
	}
	release := &helmv3.ReleaseArgs{
		Name:          pulumi.String(args.ReleaseName),
		Namespace:     pulumi.String(args.Namespace),
		Chart:         pulumi.String(args.Chart.Name),
		Version:       pulumi.String(args.Chart.Version),
		Values:        pulumi.ToMap(args.Values),
		Atomic:        pulumi.Bool(true),
		CleanupOnFail: pulumi.Bool(true),
		Timeout:       pulumi.Int(ReleaseTimeoutSeconds),
		MaxHistory:    pulumi.Int(10),
	}
	if args.Chart.Repo != "" {
		release.RepositoryOpts = &helmv3.RepositoryOptsArgs{Repo: pulumi.String(args.Chart.Repo)}
	}
	return helmv3.NewRelease(ctx, name, release, opts...)
}

// Object is a custom resource: its type, name and the fields beside metadata (usually just "spec").
type Object struct {
	APIVersion  string
	Kind        string
	Name        string
	Namespace   string // empty for cluster-scoped kinds
	Labels      map[string]string
	Annotations map[string]string
	// Fields hold the top-level fields other than apiVersion, kind and metadata; values may be pulumi inputs.
	Fields map[string]any
}

// CustomResource registers obj, which waits for crdRelease (the release that installs its CRD) on top of opts.
func CustomResource(ctx *pulumi.Context, name string, obj Object, crdRelease pulumi.Resource, opts ...pulumi.ResourceOption) (*apiextensions.CustomResource, error) {
	if crdRelease == nil {
		return nil, fmt.Errorf("%s %s: no release given for its CRD; custom resources must depend on the release that installs their CRD", obj.Kind, obj.Name)
	}
	meta := &metav1.ObjectMetaArgs{Name: pulumi.String(obj.Name)}
	if obj.Namespace != "" {
		meta.Namespace = pulumi.String(obj.Namespace)
	}
	if len(obj.Labels) > 0 {
		meta.Labels = pulumi.ToStringMap(obj.Labels)
	}
	if len(obj.Annotations) > 0 {
		meta.Annotations = pulumi.ToStringMap(obj.Annotations)
	}
	fields := kubernetes.UntypedArgs{}
	for k, v := range obj.Fields {
		fields[k] = v
	}
	return apiextensions.NewCustomResource(ctx, name, &apiextensions.CustomResourceArgs{
		ApiVersion:  pulumi.String(obj.APIVersion),
		Kind:        pulumi.String(obj.Kind),
		Metadata:    meta,
		OtherFields: fields,
	}, append(opts, pulumi.DependsOn([]pulumi.Resource{crdRelease}))...)
}

// Replicas are the values of one part of a chart that follows the common replicaCount / podDisruptionBudget
// convention (cert-manager, External Secrets): two replicas kept one at a time through node drains when ha, else one.
func Replicas(ha bool) map[string]any {
	if !ha {
		return map[string]any{"replicaCount": 1}
	}
	return map[string]any{
		"replicaCount":        2,
		"podDisruptionBudget": map[string]any{"enabled": true, "minAvailable": 1},
	}
}

// NameField is an args field whose value names a Kubernetes object, namespace or listener.
type NameField struct{ Field, Value string }

// NameErrors reports each field whose value is not a DNS-1123 label, naming the field and the fix.
func NameErrors(component string, fields ...NameField) []error {
	var errs []error
	for _, f := range fields {
		if msgs := validation.IsDNS1123Label(f.Value); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("%s: args.%s %q is not a valid name (%s): use at most 63 lower-case letters, digits and '-'",
				component, f.Field, f.Value, strings.Join(msgs, "; ")))
		}
	}
	return errs
}
