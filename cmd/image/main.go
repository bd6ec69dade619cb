// Command image builds the rate limiter's multi-arch container image into an OCI image
// layout, without a Docker engine, and prints the index digest on stdout:
//
//	go run ./cmd/image --oci-layout DIR
//
// Progress goes to stderr. Revision and timestamps default to the last git commit that
// changed the binary's inputs, so rebuilding the same source gives the same digest.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stackauth-platform/infra/internal/ociimage"
)

const defaultSource = "https://github.com/stackauth-platform/infra"

// flagFor maps an ociimage option onto the flag that sets it, for error messages.
var flagFor = map[string]string{
	"ModuleDir":   "--module-dir",
	"MainPackage": "--main",
	"Version":     "--version",
	"Revision":    "--revision",
	"Source":      "--source",
	"Created":     "--created",
	"Platforms":   "--platforms",
	"Base":        "--base",
}

// usageError is bad input: exit code 2, as flag parsing errors have.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func main() {
	err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "image:", err)
	var usage usageError
	if errors.As(err, &usage) || errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	os.Exit(1)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	layoutDir := fs.String("oci-layout", "", "directory to write the OCI image layout into (required; new, empty or an existing layout)")
	moduleDir := fs.String("module-dir", ".", "module root to build in")
	mainPkg := fs.String("main", ociimage.DefaultMainPackage, "Go main package to build")
	version := fs.String("version", "", "version stamped into the binary and labels (default 0.0.0-<revision prefix>)")
	revision := fs.String("revision", "", "source revision label (default: last git commit that changed the binary's inputs, -dirty if they are modified)")
	source := fs.String("source", defaultSource, "source repository URL label")
	created := fs.String("created", "", "fixed timestamp, unix seconds or RFC 3339 (default $SOURCE_DATE_EPOCH, else the revision's commit time)")
	platforms := fs.String("platforms", "linux/amd64,linux/arm64", "comma-separated platforms")
	base := fs.String("base", "", "base image index pinned by digest (registry/repo@sha256:...); default scratch")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q; all input is given by flags (see -h)", fs.Arg(0))}
	}
	if *layoutDir == "" {
		return usageError{"--oci-layout is required: the directory to write the image layout into"}
	}
	if err := ociimage.CheckLayoutDir(*layoutDir); err != nil {
		return usageError{"--oci-layout: " + err.Error()}
	}

	opts := ociimage.Options{ModuleDir: *moduleDir, MainPackage: *mainPkg, Version: *version, Revision: *revision, Source: *source}
	var err error
	if opts.Platforms, err = parsePlatforms(*platforms); err != nil {
		return err
	}
	if opts.Created, err = parseCreated(*created); err != nil {
		return err
	}
	if opts.Revision == "" {
		rev, err := ociimage.InputRevision(ctx, opts)
		if err != nil {
			return explain(fmt.Errorf("--revision not given and not found from git: %w", err))
		}
		opts.Revision = rev.Label()
		if opts.Created.IsZero() {
			opts.Created = rev.Time
		}
		fmt.Fprintf(stderr, "revision %s from git, committed %s\n", opts.Revision, rev.Time.Format(time.RFC3339))
	}
	if opts.Created.IsZero() {
		return usageError{"--created is needed with --revision (unix seconds or RFC 3339), or set SOURCE_DATE_EPOCH"}
	}
	if opts.Version == "" {
		opts.Version = "0.0.0-" + shortRevision(opts.Revision)
	}
	if *base != "" {
		if opts.Base, err = pullBase(ctx, *base); err != nil {
			return err
		}
	}

	start := time.Now()
	index, err := ociimage.Build(ctx, opts, stderr)
	if err != nil {
		return explain(err)
	}
	digest, err := ociimage.WriteLayout(*layoutDir, index, opts.Version)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s (version %s) in %.1fs\n", *layoutDir, opts.Version, time.Since(start).Seconds())
	fmt.Fprintln(stdout, digest.String())
	return nil
}

// explain turns an option error into one naming the flag.
func explain(err error) error {
	var optErr *ociimage.OptionError
	if errors.As(err, &optErr) {
		return usageError{fmt.Sprintf("%s: %s; %s", flagFor[optErr.Field], optErr.Problem, optErr.Fix)}
	}
	return err
}

func parsePlatforms(list string) ([]v1.Platform, error) {
	var platforms []v1.Platform
	for _, item := range strings.Split(list, ",") {
		p, err := v1.ParsePlatform(strings.TrimSpace(item))
		if err != nil || p.OS == "" || p.Architecture == "" {
			return nil, usageError{fmt.Sprintf("--platforms: %q is not os/arch; use e.g. linux/amd64,linux/arm64", item)}
		}
		platforms = append(platforms, *p)
	}
	return platforms, nil
}

// parseCreated reads --created, falling back to SOURCE_DATE_EPOCH; zero means unset.
func parseCreated(flagValue string) (time.Time, error) {
	value, from := flagValue, "--created"
	if value == "" {
		value, from = os.Getenv("SOURCE_DATE_EPOCH"), "SOURCE_DATE_EPOCH"
	}
	if value == "" {
		return time.Time{}, nil
	}
	if seconds, err := strconv.ParseInt(value, 10, 64); err == nil && seconds >= 0 {
		return time.Unix(seconds, 0).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339, value); err == nil {
		return t, nil
	}
	return time.Time{}, usageError{fmt.Sprintf("%s: %q is neither unix seconds nor RFC 3339 (2026-11-02T10:30:00Z)", from, value)}
}

func shortRevision(revision string) string {
	commit, dirty := strings.CutSuffix(revision, "-dirty")
	if len(commit) > 12 {
		commit = commit[:12]
	}
	if dirty {
		return commit + "-dirty"
	}
	return commit
}

// pullBase fetches the base with the credentials docker, crane and credential helpers use.
func pullBase(ctx context.Context, ref string) (v1.ImageIndex, error) {
	parsed, err := name.ParseReference(ref)
	if err != nil {
		return nil, usageError{fmt.Sprintf("--base: %q is not an image reference: %v", ref, err)}
	}
	auth, err := authn.DefaultKeychain.Resolve(parsed.Context())
	if err != nil {
		return nil, fmt.Errorf("--base: finding credentials for %s: %w", parsed.Context(), err)
	}
	index, err := ociimage.PullBase(ctx, ref, auth)
	return index, explain(err)
}
