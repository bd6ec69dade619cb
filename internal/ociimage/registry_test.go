package ociimage

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// localRegistry serves go-containerregistry's in-memory registry on a loopback port.
func localRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// TestPushAndBase pushes a base index, builds on it by digest, pushes the result, and reads
// it back from the registry by the digest Push returned.
func TestPushAndBase(t *testing.T) {
	ctx := context.Background()
	host := localRegistry(t)

	base := baseIndex(t)
	baseRef, err := Push(ctx, base, host+"/static", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := PullBase(ctx, host+"/static:latest", nil); err == nil || !strings.Contains(err.Error(), "not pinned by digest") {
		t.Errorf("a base by tag must be refused, got %v", err)
	}
	pulledBase, err := PullBase(ctx, baseRef.String(), nil)
	if err != nil {
		t.Fatal(err)
	}

	opts := fixtureOptions(fixtureModule(t))
	opts.Base = pulledBase
	built := build(t, opts)
	pushed, err := Push(ctx, built, host+"/ratelimit", opts.Version, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := digestOf(t, built); pushed.DigestStr() != want.String() {
		t.Errorf("Push returned %s, want the index digest %s", pushed, want)
	}

	remoteIndex, err := remote.Index(pushed)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(host + "/ratelimit:" + opts.Version)
	if err != nil {
		t.Fatal(err)
	}
	tagged, err := remote.Head(tag)
	if err != nil || tagged.Digest.String() != pushed.DigestStr() {
		t.Errorf("tag %s does not point at %s: %v %v", opts.Version, pushed.DigestStr(), tagged, err)
	}
	manifest, err := remoteIndex.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, desc := range manifest.Manifests {
		img, err := remoteIndex.Image(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		layers, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		if len(layers) != 3 {
			t.Errorf("%s: %d layers, want the base's one plus runtime files and binary", desc.Platform, len(layers))
		}
		files := flatten(t, img)
		if got := string(files["etc/base-release"].body); got != desc.Platform.Architecture+"\n" {
			t.Errorf("%s: base file holds %q, want the base image of the same architecture", desc.Platform, got)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Config.User != "65532:65532" || cfg.Config.Labels["base.label"] != "kept" {
			t.Errorf("%s: user %q labels %v: want our user over the base's and the base's labels kept", desc.Platform, cfg.Config.User, cfg.Config.Labels)
		}
	}

	if _, err := Push(ctx, built, host+"/ratelimit:tag", "", nil); err == nil {
		t.Error("a repository with a tag in it must be refused")
	}
}

// baseIndex is a two-platform base whose single layer names its architecture.
func baseIndex(t *testing.T) v1.ImageIndex {
	t.Helper()
	var index v1.ImageIndex = empty.Index
	for _, p := range DefaultPlatforms() {
		layer, err := layerFromFiles([]file{{name: "etc/base-release", mode: 0o644, body: []byte(p.Architecture + "\n")}}, fixedCreated)
		if err != nil {
			t.Fatal(err)
		}
		img, err := mutate.AppendLayers(empty.Image, layer)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cfg = cfg.DeepCopy()
		cfg.Config.User = "0"
		cfg.Config.Labels = map[string]string{"base.label": "kept"}
		if img, err = mutate.ConfigFile(img, cfg); err != nil {
			t.Fatal(err)
		}
		platform := p
		index = mutate.AppendManifests(index, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &platform}})
	}
	return index
}
