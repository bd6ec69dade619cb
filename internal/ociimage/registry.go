package ociimage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// WriteLayout writes the index into an OCI image layout at dir and returns its digest.
// index.json gets exactly one entry, the multi-arch index, named by refName (e.g. the
// version), so `crane push DIR REF` and `skopeo copy --all oci:DIR:NAME ...` take it as is.
// dir must be new, empty, or an OCI layout (whose index.json is replaced).
func WriteLayout(dir string, index v1.ImageIndex, refName string) (v1.Hash, error) {
	if err := CheckLayoutDir(dir); err != nil {
		return v1.Hash{}, err
	}
	digest, err := index.Digest()
	if err != nil {
		return v1.Hash{}, err
	}
	top := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{
		Add:        index,
		Descriptor: v1.Descriptor{Annotations: map[string]string{"org.opencontainers.image.ref.name": refName}},
	})
	if _, err := layout.Write(dir, top); err != nil {
		return v1.Hash{}, fmt.Errorf("writing OCI layout %s: %w", dir, err)
	}
	return digest, nil
}

// CheckLayoutDir tells whether WriteLayout may write into dir: it must be new, empty or an
// OCI layout already, so that a typo cannot scatter blobs into an unrelated folder.
func CheckLayoutDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("OCI layout directory %s: %w", dir, err)
	case len(entries) > 0:
		if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
			return fmt.Errorf("OCI layout directory %s is not empty and not an OCI layout; choose a new or empty directory", dir)
		}
	}
	return nil
}

// Push uploads the index and everything it refers to into repository (e.g.
// 123456789012.dkr.ecr.eu-west-1.amazonaws.com/ratelimit), tagged with tag, or untagged when
// tag is empty. It returns the by-digest reference a workload should use. A nil auth pushes
// anonymously.
func Push(ctx context.Context, index v1.ImageIndex, repository, tag string, auth authn.Authenticator) (name.Digest, error) {
	repo, err := name.NewRepository(repository)
	if err != nil {
		return name.Digest{}, fmt.Errorf("push repository %q is not a repository name (host/path, no tag or digest): %w", repository, err)
	}
	digest, err := index.Digest()
	if err != nil {
		return name.Digest{}, err
	}
	byDigest := repo.Digest(digest.String())
	var target name.Reference = byDigest
	if tag != "" {
		if target, err = name.NewTag(repo.Name() + ":" + tag); err != nil {
			return name.Digest{}, fmt.Errorf("push tag %q is not a valid tag: %w", tag, err)
		}
	}
	if auth == nil {
		auth = authn.Anonymous
	}
	if err := remote.WriteIndex(target, index, remote.WithContext(ctx), remote.WithAuth(auth)); err != nil {
		return name.Digest{}, fmt.Errorf("pushing %s: %w", target, err)
	}
	return byDigest, nil
}

// PullBase fetches a base index that must be pinned by digest: a tag could move and the
// build would no longer be reproducible. A nil auth pulls anonymously.
func PullBase(ctx context.Context, ref string, auth authn.Authenticator) (v1.ImageIndex, error) {
	digest, err := name.NewDigest(ref)
	if err != nil {
		return nil, &OptionError{"Base", fmt.Sprintf("%q is not pinned by digest (%v)", ref, err), "give it as registry/repo@sha256:... so builds are reproducible"}
	}
	if auth == nil {
		auth = authn.Anonymous
	}
	index, err := remote.Index(digest, remote.WithContext(ctx), remote.WithAuth(auth))
	if err != nil {
		return nil, fmt.Errorf("pulling base image %s (it must be a multi-arch index): %w", ref, err)
	}
	return index, nil
}

// baseImageFor picks the base's image for platform.
func baseImageFor(base v1.ImageIndex, platform v1.Platform) (v1.Image, error) {
	manifest, err := base.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, desc := range manifest.Manifests {
		p := desc.Platform
		if p == nil || p.OS != platform.OS || p.Architecture != platform.Architecture {
			continue
		}
		if p.Variant != "" && p.Variant != platform.Variant {
			continue
		}
		return base.Image(desc.Digest)
	}
	return nil, &OptionError{"Base", fmt.Sprintf("the base index has no %s image", platform.String()), "choose a base that covers every platform built, or build fewer platforms"}
}
