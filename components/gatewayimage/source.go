package gatewayimage

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/stackauth-platform/infra/internal/ociimage"
)

// Source is the checkout the program builds the gateway from.
type Source struct {
	// ModuleDir is the module root: the project directory during `pulumi up`.
	ModuleDir string
	// URL is the source repository, for the image's source label.
	URL string
	// Version is stamped into the binary and is the pushed tag. Empty: 0.0.0-<commit prefix> of the last commit
	// that changed the gateway's inputs, so an unrelated commit keeps tag and digest.
	Version string
}

// FromSource is the Publisher.Build of a real up: ociimage.Build of ./ratelimit/cmd/ratelimit for linux/amd64 and
// linux/arm64, stamped from git. Its progress goes to the Pulumi log.
func FromSource(ctx *pulumi.Context, src Source) func(context.Context) (Built, error) {
	return func(c context.Context) (Built, error) {
		opts := ociimage.Options{ModuleDir: src.ModuleDir, Version: src.Version, Source: src.URL}
		rev, err := ociimage.InputRevision(c, opts)
		if err != nil {
			return Built{}, err
		}
		opts.Revision, opts.Created = rev.Label(), rev.Time
		if opts.Version == "" {
			opts.Version = DefaultVersion(rev)
		}
		if shallowCheckout(c, opts.ModuleDir) {
			// In a shallow clone every path's last commit is the tip, so each commit would roll the gateway.
			if err := ctx.Log.Warn("the checkout is shallow: the gateway image is stamped with the tip commit, so every commit "+
				"gives a new digest and rolls the gateway; check out the full history (actions/checkout fetch-depth: 0)", nil); err != nil {
				return Built{}, err
			}
		}
		var progress bytes.Buffer
		index, err := ociimage.Build(c, opts, &progress)
		if err != nil {
			return Built{}, fmt.Errorf("%w\n%s", err, progress.String())
		}
		if err := ctx.Log.Info(strings.TrimSpace(progress.String()), nil); err != nil {
			return Built{}, err
		}
		return Built{Index: index, Tag: opts.Version}, nil
	}
}

// DefaultVersion is 0.0.0-<first 12 hex of the commit>, with -dirty when the inputs are edited.
func DefaultVersion(rev ociimage.Revision) string {
	commit := rev.Commit
	if len(commit) > 12 {
		commit = commit[:12]
	}
	if rev.Dirty {
		return "0.0.0-" + commit + "-dirty"
	}
	return "0.0.0-" + commit
}

func shallowCheckout(ctx context.Context, dir string) bool {
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "--is-shallow-repository").Output()
	return err == nil && strings.TrimSpace(string(out)) == "true"
}
