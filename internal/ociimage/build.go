// Package ociimage builds the rate limiter's multi-arch container image without a Docker
// engine or Dockerfile: it cross-compiles the Go binary with `go build` and assembles OCI
// images and an index with go-containerregistry. Every timestamp is fixed and every input
// is pinned, so the same source gives the same index digest, which is what lets a
// deployment reference the image by digest and roll only when the image really changed.
//
// The package does not import Pulumi; the Pulumi program calls Build and Push.
package ociimage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// OCI annotation keys, used both as config labels and as index annotations.
const (
	LabelSource   = "org.opencontainers.image.source"
	LabelRevision = "org.opencontainers.image.revision"
	LabelVersion  = "org.opencontainers.image.version"
	LabelCreated  = "org.opencontainers.image.created"
	LabelTitle    = "org.opencontainers.image.title"
)

// Build compiles the main package for every platform and returns the image index. Progress
// lines go to progress (nil discards them).
func Build(ctx context.Context, opts Options, progress io.Writer) (v1.ImageIndex, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if progress == nil {
		progress = io.Discard
	}
	goroot, err := goEnv(ctx, opts, "GOROOT")
	if err != nil {
		return nil, err
	}
	files, err := runtimeFiles(goroot)
	if err != nil {
		return nil, err
	}
	// One runtime layer for all platforms: registries store it once.
	runtimeLayer, err := layerFromFiles(files, opts.Created)
	if err != nil {
		return nil, err
	}

	workDir, err := os.MkdirTemp("", "ociimage-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(workDir)

	labels := map[string]string{
		LabelSource:   opts.Source,
		LabelRevision: opts.Revision,
		LabelVersion:  opts.Version,
		LabelCreated:  opts.Created.Format(time.RFC3339),
		LabelTitle:    "ratelimit",
	}
	index := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, platform := range opts.Platforms {
		binary, err := compile(ctx, opts, platform, workDir, progress)
		if err != nil {
			return nil, err
		}
		binaryLayer, err := layerFromFiles([]file{{name: strings.TrimPrefix(EntrypointPath, "/"), mode: 0o755, body: binary}}, opts.Created)
		if err != nil {
			return nil, err
		}
		img, err := platformImage(opts, platform, labels, runtimeLayer, binaryLayer)
		if err != nil {
			return nil, fmt.Errorf("assembling the %s image: %w", platform.String(), err)
		}
		if err := reportSize(progress, platform, img); err != nil {
			return nil, err
		}
		index = mutate.AppendManifests(index, mutate.IndexAddendum{Add: plainImage{img}, Descriptor: v1.Descriptor{Platform: &platform}})
	}
	index = mutate.Annotations(index, labels).(v1.ImageIndex)
	digest, err := index.Digest()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "index %s\n", digest)
	return index, nil
}

// platformImage puts the two layers on the base (or scratch) with the run settings.
func platformImage(opts Options, platform v1.Platform, labels map[string]string, runtimeLayer, binaryLayer v1.Layer) (v1.Image, error) {
	base := empty.Image
	if opts.Base != nil {
		var err error
		if base, err = baseImageFor(opts.Base, platform); err != nil {
			return nil, err
		}
	}
	base = mutate.ConfigMediaType(mutate.MediaType(base, types.OCIManifestSchema1), types.OCIConfigJSON)
	cfg, err := base.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = platform.OS, platform.Architecture, platform.Variant
	cfg.Created = v1.Time{Time: opts.Created}
	cfg.Config.User = fmt.Sprintf("%d:%d", NonRootUID, NonRootUID)
	cfg.Config.Entrypoint = []string{EntrypointPath}
	cfg.Config.Cmd = nil
	cfg.Config.WorkingDir = "/"
	if !hasEnv(cfg.Config.Env, "PATH") {
		cfg.Config.Env = append(cfg.Config.Env, "PATH="+filepath.Dir(EntrypointPath))
	}
	cfg.Config.ExposedPorts = map[string]struct{}{}
	for _, port := range opts.Ports {
		cfg.Config.ExposedPorts[port] = struct{}{}
	}
	if cfg.Config.Labels == nil {
		cfg.Config.Labels = map[string]string{}
	}
	for k, v := range labels {
		cfg.Config.Labels[k] = v
	}
	img, err := mutate.ConfigFile(base, cfg)
	if err != nil {
		return nil, err
	}
	addendum := func(layer v1.Layer, what string) mutate.Addendum {
		return mutate.Addendum{
			Layer:     layer,
			MediaType: types.OCILayer,
			History:   v1.History{Created: v1.Time{Time: opts.Created}, CreatedBy: "ociimage: " + what},
		}
	}
	return mutate.Append(img,
		addendum(runtimeLayer, "runtime files: passwd, CA roots, tzdata"),
		addendum(binaryLayer, "ratelimit binary "+opts.Version))
}

// reportSize prints what a node pulls for the platform: the compressed layers and config.
func reportSize(progress io.Writer, platform v1.Platform, img v1.Image) error {
	manifest, err := img.Manifest()
	if err != nil {
		return err
	}
	total := manifest.Config.Size
	for _, layer := range manifest.Layers {
		total += layer.Size
	}
	fmt.Fprintf(progress, "image %s: %d bytes compressed\n", platform.String(), total)
	return nil
}

// plainImage is listed in an index without an artifactType. go-containerregistry fills one
// in from the config media type, which a runnable image does not need and which older
// tools (skopeo 1.9) drop when copying, so the copy would get another index digest.
type plainImage struct{ v1.Image }

func (p plainImage) Descriptor() (*v1.Descriptor, error) {
	mediaType, err := p.MediaType()
	if err != nil {
		return nil, err
	}
	size, err := p.Size()
	if err != nil {
		return nil, err
	}
	digest, err := p.Digest()
	if err != nil {
		return nil, err
	}
	return &v1.Descriptor{MediaType: mediaType, Size: size, Digest: digest}, nil
}

func hasEnv(env []string, name string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, name+"=") {
			return true
		}
	}
	return false
}

// compile cross-compiles the main package for one platform and returns the binary.
func compile(ctx context.Context, opts Options, platform v1.Platform, workDir string, progress io.Writer) ([]byte, error) {
	out := filepath.Join(workDir, "ratelimit-"+platform.Architecture)
	// -buildvcs=false: VCS stamping would put the working tree's dirty flag into the binary,
	// so an unrelated edit anywhere in the repo would change the digest. The version comes
	// in through -X instead.
	args := []string{"build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -buildid= -X main.version=" + opts.Version,
		"-o", out, opts.MainPackage}
	cmd := exec.CommandContext(ctx, opts.GoCommand, args...)
	cmd.Dir = opts.ModuleDir
	// Microarchitecture levels are pinned to the baselines so a developer's GOAMD64=v3 can
	// neither change the digest nor produce a binary older nodes cannot run.
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+platform.Architecture, "CGO_ENABLED=0", "GOAMD64=v1", "GOARM64=v8.0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go build %s for %s failed: %w\n%s", opts.MainPackage, platform.String(), err, strings.TrimSpace(stderr.String()))
	}
	binary, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "built %s for %s in %.1fs (%d bytes)\n", opts.MainPackage, platform.String(), time.Since(start).Seconds(), len(binary))
	return binary, nil
}

func goEnv(ctx context.Context, opts Options, key string) (string, error) {
	cmd := exec.CommandContext(ctx, opts.GoCommand, "env", key)
	cmd.Dir = opts.ModuleDir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("running %s env %s: %w", opts.GoCommand, key, err)
	}
	return strings.TrimSpace(string(out)), nil
}
