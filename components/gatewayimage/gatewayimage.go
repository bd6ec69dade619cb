// Package gatewayimage gives the rate-limit gateway its container image: an ECR repository per stack and, during
// `pulumi up` only, the image built from this repository's source (internal/ociimage: go build, no Docker) and
// pushed to it. A preview builds nothing and pushes nothing, and says so; the image reference is then unknown.
package gatewayimage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecr"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/stackauth-platform/infra/components/awsbase"
)

// Defaults of the lifecycle policy.
const (
	DefaultKeepReleases       = 20
	DefaultUntaggedExpiryDays = 3
)

// PreviewNotice is what a preview logs instead of building and pushing.
const PreviewNotice = "preview: the rate-limit gateway image is neither built nor pushed; `pulumi up` builds it from " +
	"source (go build, no Docker) and pushes it to the stack's ECR repository, so the gateway Deployment's image " +
	"(<repository>@sha256:<digest>) is unknown until then"

// Built is what an up pushes: the multi-arch index and the tag it goes under (the version).
type Built struct {
	Index v1.ImageIndex
	Tag   string
}

// Publisher makes the image and reaches the registry. The program builds from source and talks to ECR; tests give
// a small image or a loopback registry, so that no test reaches a real registry.
type Publisher struct {
	// Build assembles the index locally; it runs during `pulumi up` only, never in a preview.
	Build func(ctx context.Context) (Built, error)
	// Remote are extra go-containerregistry options for every registry request (a transport, in tests).
	Remote []remote.Option
}

// Args configure the repository and the push.
type Args struct {
	// RepositoryName is the ECR repository, e.g. stackauth-prod/ratelimit.
	RepositoryName string
	// Platforms is how many platform images each index holds (2: amd64 and arm64); the lifecycle policy counts
	// every release as this many images plus the index.
	Platforms int
	// KeepReleases is how many tagged releases the lifecycle policy keeps (default DefaultKeepReleases).
	KeepReleases int
	// UntaggedExpiryDays is when untagged images (left by an interrupted push) expire (default DefaultUntaggedExpiryDays).
	UntaggedExpiryDays int
	// ForceDelete lets `pulumi destroy` delete a repository that still holds images (staging); prod keeps them.
	ForceDelete bool
	Publisher   Publisher
	Tags        map[string]string
}

// Image is the repository and, after an up, the pushed image.
type Image struct {
	pulumi.ResourceState

	Repository    *ecr.Repository
	RepositoryURL pulumi.StringOutput
	// Ref is <repository URL>@sha256:<index digest>: unknown in a preview, known once an up has pushed the image. A
	// rebuild of unchanged source gives the same digest, so the workload using Ref does not roll.
	Ref pulumi.StringOutput
}

// NewImage registers the repository and, outside previews, builds and pushes the image. Pass the AWS provider in
// opts (pulumi.Providers).
func NewImage(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Image, error) {
	a, err := args.withDefaults()
	if err != nil {
		return nil, err
	}
	component := &Image{}
	if err := ctx.RegisterComponentResource("stackauth:gateway:Image", name, component, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(component)

	key, err := awsbase.Key(ctx, name, "ECR images of the rate-limit gateway", a.Tags, parent)
	if err != nil {
		return nil, err
	}
	repo, err := ecr.NewRepository(ctx, name, &ecr.RepositoryArgs{
		Name: pulumi.String(a.RepositoryName),
		// A tag names one build for good: a rollback to a version gets exactly what ran before.
		ImageTagMutability:         pulumi.String("IMMUTABLE"),
		ImageScanningConfiguration: &ecr.RepositoryImageScanningConfigurationArgs{ScanOnPush: pulumi.Bool(true)},
		EncryptionConfigurations: ecr.RepositoryEncryptionConfigurationArray{&ecr.RepositoryEncryptionConfigurationArgs{
			EncryptionType: pulumi.String("KMS"),
			KmsKey:         key.Arn,
		}},
		ForceDelete: pulumi.Bool(a.ForceDelete),
		Tags:        pulumi.ToStringMap(a.Tags),
	}, parent)
	if err != nil {
		return nil, err
	}
	policy, err := LifecyclePolicy(a.KeepReleases, a.Platforms, a.UntaggedExpiryDays)
	if err != nil {
		return nil, err
	}
	if _, err := ecr.NewLifecyclePolicy(ctx, name, &ecr.LifecyclePolicyArgs{
		Repository: repo.Name,
		Policy:     pulumi.String(policy),
	}, parent); err != nil {
		return nil, err
	}

	component.Repository = repo
	component.RepositoryURL = repo.RepositoryUrl
	if ctx.DryRun() {
		if err := ctx.Log.Info(PreviewNotice, &pulumi.LogArgs{Resource: component}); err != nil {
			return nil, err
		}
		component.Ref = pulumi.UnsafeUnknownOutput([]pulumi.Resource{repo}).ApplyT(func(v any) string { return "" }).(pulumi.StringOutput)
	} else {
		built, err := a.Publisher.Build(ctx.Context())
		if err != nil {
			return nil, fmt.Errorf("gatewayimage: building the rate-limit gateway image: %w", err)
		}
		digest, err := built.Index.Digest()
		if err != nil {
			return nil, err
		}
		if err := ctx.Log.Info(fmt.Sprintf("built the rate-limit gateway image %s, tag %s; pushing it unless the repository has it", digest, built.Tag), &pulumi.LogArgs{Resource: component}); err != nil {
			return nil, err
		}
		token := ecr.GetAuthorizationTokenOutput(ctx, ecr.GetAuthorizationTokenOutputArgs{RegistryId: repo.RegistryId}, parent)
		ref := pulumi.All(repo.RepositoryUrl, token.AuthorizationToken()).ApplyTWithContext(ctx.Context(), func(c context.Context, v []any) (string, error) {
			// The token is base64 of "AWS:<password>", which is exactly what AuthConfig.Auth holds.
			auth := authn.FromConfig(authn.AuthConfig{Auth: v[1].(string)})
			return Push(c, built, v[0].(string), auth, a.Publisher.Remote...)
		})
		// The token is secret, so the apply's result is too; the reference itself is not.
		component.Ref = pulumi.Unsecret(ref).(pulumi.StringOutput)
	}

	if err := ctx.RegisterResourceOutputs(component, pulumi.Map{
		"repositoryUrl": component.RepositoryURL,
		"ref":           component.Ref,
	}); err != nil {
		return nil, err
	}
	return component, nil
}

func (a Args) withDefaults() (Args, error) {
	if a.KeepReleases == 0 {
		a.KeepReleases = DefaultKeepReleases
	}
	if a.UntaggedExpiryDays == 0 {
		a.UntaggedExpiryDays = DefaultUntaggedExpiryDays
	}
	if _, err := name.NewRepository("registry.example/" + a.RepositoryName); err != nil || a.RepositoryName == "" {
		return a, fmt.Errorf("gatewayimage: args.RepositoryName %q is not a repository name: use lower-case path segments like \"stackauth-prod/ratelimit\"", a.RepositoryName)
	}
	if a.Platforms < 1 {
		return a, fmt.Errorf("gatewayimage: args.Platforms %d: give the number of platform images per index (2 for amd64 and arm64)", a.Platforms)
	}
	if a.Publisher.Build == nil {
		return a, errors.New("gatewayimage: args.Publisher.Build is nil: give the function that builds the image (the program builds from source)")
	}
	return a, nil
}

// LifecyclePolicy keeps the last keepReleases tagged releases and expires untagged images after untaggedDays.
//
// Each platform image of a release is tagged too (<tag>-<os>-<arch>, see Push): ECR's lifecycle rules look at tags,
// not at which index refers to an image, so untagged platform images of a live index could be expired under it.
// With every image tagged, "untagged" only ever means left over by an interrupted push, and the count rule keeps
// whole releases: (platforms + 1) images each.
func LifecyclePolicy(keepReleases, platforms, untaggedDays int) (string, error) {
	if keepReleases < 1 || untaggedDays < 1 {
		return "", fmt.Errorf("gatewayimage: the lifecycle policy needs KeepReleases >= 1 and UntaggedExpiryDays >= 1, got %d and %d", keepReleases, untaggedDays)
	}
	type selection struct {
		TagStatus      string   `json:"tagStatus"`
		TagPatternList []string `json:"tagPatternList,omitempty"`
		CountType      string   `json:"countType"`
		CountUnit      string   `json:"countUnit,omitempty"`
		CountNumber    int      `json:"countNumber"`
	}
	type rule struct {
		RulePriority int               `json:"rulePriority"`
		Description  string            `json:"description"`
		Selection    selection         `json:"selection"`
		Action       map[string]string `json:"action"`
	}
	expire := map[string]string{"type": "expire"}
	doc := map[string][]rule{"rules": {
		{1, fmt.Sprintf("expire untagged images (interrupted pushes) after %d days", untaggedDays),
			selection{TagStatus: "untagged", CountType: "sinceImagePushed", CountUnit: "days", CountNumber: untaggedDays}, expire},
		{2, fmt.Sprintf("keep the last %d releases (index and %d platform images each)", keepReleases, platforms),
			selection{TagStatus: "tagged", TagPatternList: []string{"*"}, CountType: "imageCountMoreThan", CountNumber: keepReleases * (platforms + 1)}, expire},
	}}
	b, err := json.Marshal(doc)
	return string(b), err
}

// PlatformTag is the tag of one platform image of a release: <tag>-<os>-<arch>.
func PlatformTag(tag string, p *v1.Platform) string {
	return fmt.Sprintf("%s-%s-%s", tag, p.OS, p.Architecture)
}

// Push uploads the build to repository unless it is there already and returns <repository>@<index digest>. The
// platform images are tagged first and the index last, so a tagged index always has tagged platform images. Each
// tag is checked with a HEAD request before anything is written: a tag that already names this build is left
// alone (tags are immutable, and an unchanged build must not be pushed again), one that names another build is an
// error.
func Push(ctx context.Context, b Built, repository string, auth authn.Authenticator, extra ...remote.Option) (string, error) {
	repo, err := name.NewRepository(repository)
	if err != nil {
		return "", fmt.Errorf("gatewayimage: repository %q: %w", repository, err)
	}
	opts := append([]remote.Option{remote.WithContext(ctx), remote.WithAuth(auth)}, extra...)
	digest, err := b.Index.Digest()
	if err != nil {
		return "", err
	}
	manifest, err := b.Index.IndexManifest()
	if err != nil {
		return "", err
	}
	for _, desc := range manifest.Manifests {
		if desc.Platform == nil {
			return "", fmt.Errorf("gatewayimage: index entry %s has no platform", desc.Digest)
		}
		img, err := b.Index.Image(desc.Digest)
		if err != nil {
			return "", err
		}
		tag := repo.Tag(PlatformTag(b.Tag, desc.Platform))
		if err := ensureTag(tag, desc.Digest, func() error { return remote.Write(tag, img, opts...) }, opts); err != nil {
			return "", err
		}
	}
	tag := repo.Tag(b.Tag)
	if err := ensureTag(tag, digest, func() error { return remote.WriteIndex(tag, b.Index, opts...) }, opts); err != nil {
		return "", err
	}
	return repository + "@" + digest.String(), nil
}

// ensureTag writes unless tag already names want.
func ensureTag(tag name.Tag, want v1.Hash, write func() error, opts []remote.Option) error {
	desc, err := remote.Head(tag, opts...)
	var terr *transport.Error
	switch {
	case err == nil && desc.Digest == want:
		return nil
	case err == nil:
		return fmt.Errorf("gatewayimage: %s already holds %s, not this build's %s, and tags are immutable: give the "+
			"change a new version (commit it: the default version follows the last commit of the gateway's source; or "+
			"raise the configured version)", tag, desc.Digest, want)
	case errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound:
		if err := write(); err != nil {
			return fmt.Errorf("gatewayimage: pushing %s: %w", tag, err)
		}
		return nil
	default:
		return fmt.Errorf("gatewayimage: checking %s before pushing: %w", tag, err)
	}
}
