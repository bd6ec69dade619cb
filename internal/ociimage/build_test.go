package ociimage

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/x509"
	"debug/elf"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

var fixedCreated = time.Date(2026, 11, 2, 10, 30, 0, 0, time.UTC)

// fixtureModule copies the fixture main package into its own module in a temp dir, so a
// test can edit its source without touching the repository.
func fixtureModule(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("testdata", "fixture", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "main.go"), string(src))
	writeFile(t, filepath.Join(dir, "go.mod"), "module example.com/fixture\n\ngo 1.26\n")
	return dir
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func fixtureOptions(dir string) Options {
	return Options{
		ModuleDir:   dir,
		MainPackage: ".",
		Version:     "1.2.3",
		Revision:    "0123456789abcdef0123456789abcdef01234567",
		Source:      "https://github.com/stackauth-platform/infra",
		Created:     fixedCreated,
	}
}

func build(t *testing.T, opts Options) v1.ImageIndex {
	t.Helper()
	var progress bytes.Buffer
	index, err := Build(context.Background(), opts, &progress)
	if err != nil {
		t.Fatalf("Build: %v\nprogress:\n%s", err, progress.String())
	}
	return index
}

func digestOf(t *testing.T, index v1.ImageIndex) v1.Hash {
	t.Helper()
	h, err := index.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestBuildIntoLayout builds the fixture, writes an OCI layout, reads it back the way an
// outside tool would, and checks what a cluster will run.
func TestBuildIntoLayout(t *testing.T) {
	opts := fixtureOptions(fixtureModule(t))
	dir := filepath.Join(t.TempDir(), "layout")
	digest, err := WriteLayout(dir, build(t, opts), opts.Version)
	if err != nil {
		t.Fatal(err)
	}

	top, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	topManifest, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(topManifest.Manifests) != 1 || topManifest.Manifests[0].Digest != digest {
		t.Fatalf("index.json should hold exactly the built index %s, got %+v", digest, topManifest.Manifests)
	}
	if got := topManifest.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; got != opts.Version {
		t.Errorf("index.json ref name = %q, want %q", got, opts.Version)
	}
	index, err := top.ImageIndex(digest)
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if manifest.MediaType != "application/vnd.oci.image.index.v1+json" {
		t.Errorf("index media type = %s, want the OCI index type", manifest.MediaType)
	}
	if got := manifest.Annotations[LabelRevision]; got != opts.Revision {
		t.Errorf("index revision annotation = %q, want %q", got, opts.Revision)
	}

	platforms := map[string]bool{}
	for _, desc := range manifest.Manifests {
		if desc.Platform == nil {
			t.Fatalf("manifest %s has no platform", desc.Digest)
		}
		if desc.ArtifactType != "" {
			t.Errorf("manifest %s has artifactType %q; a runnable image needs none", desc.Digest, desc.ArtifactType)
		}
		platforms[desc.Platform.String()] = true
		img, err := index.Image(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(desc.Platform.String(), func(t *testing.T) {
			checkImageConfig(t, img, *desc.Platform, opts)
			checkImageFiles(t, img, *desc.Platform, opts)
		})
	}
	for _, want := range []string{"linux/amd64", "linux/arm64/v8"} {
		if !platforms[want] {
			t.Errorf("index lacks %s; has %v", want, platforms)
		}
	}
	if len(manifest.Manifests) != 2 {
		t.Errorf("index has %d manifests, want 2", len(manifest.Manifests))
	}
}

func checkImageConfig(t *testing.T, img v1.Image, platform v1.Platform, opts Options) {
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OS != platform.OS || cfg.Architecture != platform.Architecture {
		t.Errorf("config platform %s/%s does not match the index's %s", cfg.OS, cfg.Architecture, platform.String())
	}
	uid, _, _ := strings.Cut(cfg.Config.User, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("config user %q must be a numeric non-root uid", cfg.Config.User)
	}
	if len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != EntrypointPath || len(cfg.Config.Cmd) != 0 {
		t.Errorf("entrypoint %q cmd %q, want just [%s]", cfg.Config.Entrypoint, cfg.Config.Cmd, EntrypointPath)
	}
	for _, port := range []string{"8080/tcp", "9090/tcp"} {
		if _, ok := cfg.Config.ExposedPorts[port]; !ok {
			t.Errorf("port %s not exposed; exposed %v", port, cfg.Config.ExposedPorts)
		}
	}
	wantLabels := map[string]string{
		LabelSource:   opts.Source,
		LabelRevision: opts.Revision,
		LabelVersion:  opts.Version,
		LabelCreated:  "2026-11-02T10:30:00Z",
	}
	for k, v := range wantLabels {
		if got := cfg.Config.Labels[k]; got != v {
			t.Errorf("label %s = %q, want %q", k, got, v)
		}
	}
	if !cfg.Created.Time.Equal(fixedCreated) {
		t.Errorf("config created %v, want %v", cfg.Created.Time, fixedCreated)
	}
	for _, h := range cfg.History {
		if !h.Created.Time.Equal(fixedCreated) {
			t.Errorf("history %q created %v, want %v", h.CreatedBy, h.Created.Time, fixedCreated)
		}
	}
}

func checkImageFiles(t *testing.T, img v1.Image, platform v1.Platform, opts Options) {
	files := flatten(t, img)

	for _, shell := range []string{"bin/sh", "bin/bash", "bin/busybox", "usr/bin/sh"} {
		if _, ok := files[shell]; ok {
			t.Errorf("image contains a shell at /%s", shell)
		}
	}
	passwd := string(files["etc/passwd"].body)
	if !strings.Contains(passwd, "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd lacks the nonroot user:\n%s", passwd)
	}

	entry, ok := files[strings.TrimPrefix(EntrypointPath, "/")]
	if !ok {
		t.Fatalf("entrypoint %s is not in the image", EntrypointPath)
	}
	if entry.hdr.Mode&0o111 == 0 || entry.hdr.Uid != 0 {
		t.Errorf("entrypoint mode %o owner %d: want executable and owned by root (not writable by the app user)", entry.hdr.Mode, entry.hdr.Uid)
	}
	bin, err := elf.NewFile(bytes.NewReader(entry.body))
	if err != nil {
		t.Fatalf("entrypoint is not an ELF binary: %v", err)
	}
	wantMachine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[platform.Architecture]
	if bin.Machine != wantMachine {
		t.Errorf("binary machine %v, want %v", bin.Machine, wantMachine)
	}
	for _, prog := range bin.Progs {
		if prog.Type == elf.PT_INTERP {
			t.Errorf("binary has a dynamic loader; it must be static (CGO_ENABLED=0)")
		}
	}
	if platform.Architecture == "amd64" {
		// The host can run this one: prove the entrypoint is the stamped binary.
		path := filepath.Join(t.TempDir(), "ratelimit")
		if err := os.WriteFile(path, entry.body, 0o755); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(path).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "fixture version "+opts.Version {
			t.Errorf("running the entrypoint: %v, output %q", err, out)
		}
	}

	certs := 0
	for rest := files[caBundlePath].body; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			t.Fatalf("CA bundle holds an unparsable certificate: %v", err)
		}
		certs++
	}
	if certs < 100 {
		t.Errorf("CA bundle has %d certificates, expected the NSS roots (over 100)", certs)
	}
	zone, ok := files["usr/share/zoneinfo/Europe/Berlin"]
	if !ok {
		t.Fatal("no /usr/share/zoneinfo/Europe/Berlin")
	}
	if _, err := time.LoadLocationFromTZData("Europe/Berlin", zone.body); err != nil {
		t.Errorf("zoneinfo Europe/Berlin does not load: %v", err)
	}

	for name, f := range files {
		if !f.hdr.ModTime.Equal(fixedCreated) {
			t.Errorf("/%s has mtime %v, want the fixed %v", name, f.hdr.ModTime, fixedCreated)
			break
		}
	}
}

type tarFile struct {
	hdr  *tar.Header
	body []byte
}

// flatten reads the image's merged filesystem.
func flatten(t *testing.T, img v1.Image) map[string]tarFile {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	files := map[string]tarFile{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimSuffix(hdr.Name, "/")] = tarFile{hdr: hdr, body: body}
	}
}

// TestDigestFollowsSource checks reproducibility both ways: rebuilding the same source gives
// the same digest, and changing the version or the code gives another one.
func TestDigestFollowsSource(t *testing.T) {
	dir := fixtureModule(t)
	opts := fixtureOptions(dir)
	first := build(t, opts)
	firstDigest := digestOf(t, first)

	if again := digestOf(t, build(t, opts)); again != firstDigest {
		t.Fatalf("same source gave two digests: %s and %s", firstDigest, again)
	}

	bumped := opts
	bumped.Version = "1.2.4"
	bumpedIndex := build(t, bumped)
	if digestOf(t, bumpedIndex) == firstDigest {
		t.Errorf("a new version kept the digest %s", firstDigest)
	}
	// The runtime layer does not depend on the version: registries keep one copy of it.
	if a, b := layerDigests(t, first)[0], layerDigests(t, bumpedIndex)[0]; a != b {
		t.Errorf("runtime layer changed with the version: %s vs %s", a, b)
	}

	writeFile(t, filepath.Join(dir, "extra.go"), "package main\n\nfunc init() { version += \"+patched\" }\n")
	if changed := digestOf(t, build(t, opts)); changed == firstDigest {
		t.Errorf("changed source kept the digest %s", firstDigest)
	}
}

// layerDigests lists the layer digests of the index's first image.
func layerDigests(t *testing.T, index v1.ImageIndex) []v1.Hash {
	t.Helper()
	manifest, err := index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	img, err := index.Image(manifest.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var digests []v1.Hash
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d)
	}
	return digests
}

func TestOptionsAreChecked(t *testing.T) {
	dir := fixtureModule(t)
	cases := []struct {
		field  string
		change func(*Options)
	}{
		{"ModuleDir", func(o *Options) { o.ModuleDir = filepath.Join(dir, "missing") }},
		{"MainPackage", func(o *Options) { o.MainPackage = "./cmd/nothing" }},
		{"Version", func(o *Options) { o.Version = "" }},
		{"Version", func(o *Options) { o.Version = "1.0 -X main.evil=1" }},
		{"Revision", func(o *Options) { o.Revision = "" }},
		{"Source", func(o *Options) { o.Source = "github.com/x/y" }},
		{"Created", func(o *Options) { o.Created = time.Time{} }},
		{"Platforms", func(o *Options) { o.Platforms = []v1.Platform{{OS: "windows", Architecture: "amd64"}} }},
		{"Platforms", func(o *Options) {
			o.Platforms = []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "amd64"}}
		}},
		{"Ports", func(o *Options) { o.Ports = []string{"http"} }},
	}
	for _, c := range cases {
		opts := fixtureOptions(dir)
		c.change(&opts)
		_, err := Build(context.Background(), opts, nil)
		var optErr *OptionError
		if !errors.As(err, &optErr) || optErr.Field != c.field {
			t.Errorf("%s: want an OptionError on %s, got %v", c.field, c.field, err)
		}
	}
}

func TestBuildReportsCompileErrors(t *testing.T) {
	dir := fixtureModule(t)
	writeFile(t, filepath.Join(dir, "broken.go"), "package main\n\nfunc broken() { undefinedThing() }\n")
	_, err := Build(context.Background(), fixtureOptions(dir), nil)
	if err == nil || !strings.Contains(err.Error(), "undefinedThing") || !strings.Contains(err.Error(), "linux/amd64") {
		t.Fatalf("want the compiler's message and the platform, got %v", err)
	}
}
