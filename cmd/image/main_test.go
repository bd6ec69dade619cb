package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/stackauth-platform/infra/internal/ociimage"
)

const fixtureDir = "../../internal/ociimage/testdata/fixture"

func runImage(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), err
}

// TestTwoRunsOneDigest runs the command the way a user does, twice into two layouts.
func TestTwoRunsOneDigest(t *testing.T) {
	args := []string{"--module-dir", fixtureDir, "--main", ".", "--revision", "abc123def456", "--created", "1767225600"}
	var digests []string
	for i := range 2 {
		dir := filepath.Join(t.TempDir(), "layout")
		stdout, stderr, err := runImage(t, append(args, "--oci-layout", dir)...)
		if err != nil {
			t.Fatalf("run %d: %v\n%s", i, err, stderr)
		}
		if !regexp.MustCompile(`^sha256:[0-9a-f]{64}\n$`).MatchString(stdout) {
			t.Fatalf("stdout must be the digest alone, got %q", stdout)
		}
		if _, err := os.Stat(filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(strings.TrimSpace(stdout), "sha256:"))); err != nil {
			t.Errorf("the printed digest is not a blob of the layout: %v", err)
		}
		if !strings.Contains(stderr, "version 0.0.0-abc123def456") {
			t.Errorf("default version should derive from the revision; stderr:\n%s", stderr)
		}
		digests = append(digests, stdout)
	}
	if digests[0] != digests[1] {
		t.Errorf("two runs gave %s and %s", digests[0], digests[1])
	}
}

func TestBadInputNamesTheFlag(t *testing.T) {
	notLayout := t.TempDir()
	if err := os.WriteFile(filepath.Join(notLayout, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := []string{"--module-dir", fixtureDir, "--main", ".", "--revision", "abc123", "--created", "0"}
	cases := []struct {
		args []string
		flag string
	}{
		{[]string{}, "--oci-layout"},
		{[]string{"--oci-layout", t.TempDir(), "--created", "yesterday"}, "--created"},
		{[]string{"--oci-layout", t.TempDir(), "--platforms", "linux"}, "--platforms"},
		{append(good, "--oci-layout", t.TempDir(), "--platforms", "linux/s390x"), "--platforms"},
		{append(good, "--oci-layout", t.TempDir(), "--version", "1.0 beta"), "--version"},
		{append(good, "--oci-layout", t.TempDir(), "--source", "not a url"), "--source"},
		{[]string{"--oci-layout", t.TempDir(), "--main", "./no/such/pkg"}, "--main"},
		{[]string{"--oci-layout", t.TempDir(), "--revision", "abc123"}, "--created"},
		{append(good, "--oci-layout", t.TempDir(), "--base", "registry.example/static:latest"), "--base"},
		{append(good, "--oci-layout", notLayout), "--oci-layout"},
	}
	for _, c := range cases {
		t.Setenv("SOURCE_DATE_EPOCH", "")
		_, _, err := runImage(t, c.args...)
		var usage usageError
		if !errors.As(err, &usage) || !strings.HasPrefix(err.Error(), c.flag+":") && !strings.HasPrefix(err.Error(), c.flag+" ") {
			t.Errorf("%v: want a usage error starting with %s, got %v", c.args, c.flag, err)
		}
	}
}

// TestBaseByDigest builds on a base pulled from a loopback registry by digest.
func TestBaseByDigest(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no stored credentials: pull anonymously
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	var base v1.ImageIndex = empty.Index
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		base = mutate.AppendManifests(base, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	baseRef, err := ociimage.Push(context.Background(), base, strings.TrimPrefix(srv.URL, "http://")+"/static", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--module-dir", fixtureDir, "--main", ".", "--revision", "abc123", "--created", "0", "--base", baseRef.String()}
	dir := t.TempDir()
	stdout, stderr, err := runImage(t, append(args, "--oci-layout", dir)...)
	if err != nil {
		t.Fatalf("build on %s: %v\n%s", baseRef, err, stderr)
	}
	built, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	index, err := built.ImageIndex(v1.Hash{Algorithm: "sha256", Hex: strings.TrimPrefix(strings.TrimSpace(stdout), "sha256:")})
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	img, err := index.Image(manifest.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	if layers, err := img.Layers(); err != nil || len(layers) != 3 {
		t.Errorf("want the base layer under ours (3 layers), got %d: %v", len(layers), err)
	}
}
