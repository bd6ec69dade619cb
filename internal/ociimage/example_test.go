package ociimage_test

import (
	"context"
	"fmt"
	"os"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/stackauth-platform/infra/internal/ociimage"
)

// The deploy step: stamp the image from git, build both platforms, push to ECR with the
// token from ecr:GetAuthorizationToken (base64 of "AWS:<password>", which is exactly what
// AuthConfig.Auth holds), and deploy the returned repo@sha256:... reference.
func Example() {
	ctx := context.Background()
	opts := ociimage.Options{Version: "1.4.0", Source: "https://github.com/stackauth-platform/infra"}
	rev, err := ociimage.InputRevision(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	opts.Revision, opts.Created = rev.Label(), rev.Time

	index, err := ociimage.Build(ctx, opts, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	token := os.Getenv("ECR_AUTHORIZATION_TOKEN")
	ref, err := ociimage.Push(ctx, index, "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ratelimit", opts.Version,
		authn.FromConfig(authn.AuthConfig{Auth: token}))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	fmt.Println(ref) // 123456789012.dkr.ecr.eu-west-1.amazonaws.com/ratelimit@sha256:...
}
