package main

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/stackauth-platform/infra/components/gatewayimage"
	"github.com/stackauth-platform/infra/config"
)

// placeholderGatewayImage stands in for the gateway image in a plan made as after an up (--check): a real up builds
// the image from source and pushes it to ECR, which offline has neither a registry nor a reason to wait for. An
// empty two-platform index is pushed to an in-memory registry instead, so the gateway Deployment references
// <repository>@sha256:<digest>, the form a real push gives (with another digest).
func placeholderGatewayImage(_ *pulumi.Context, cfg *config.Stack) gatewayimage.Publisher {
	tag := cfg.Gateway.ImageVersion
	if tag == "" {
		tag = "0.0.0-offline"
	}
	build := func(context.Context) (gatewayimage.Built, error) {
		index := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
		for _, arch := range []string{"amd64", "arm64"} {
			img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{OS: "linux", Architecture: arch})
			if err != nil {
				return gatewayimage.Built{}, err
			}
			index = mutate.AppendManifests(index, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
		}
		return gatewayimage.Built{Index: index, Tag: tag}, nil
	}
	return gatewayimage.Publisher{Build: build, Remote: []remote.Option{remote.WithTransport(inMemoryRegistry{registry.New(registry.Logger(log.New(io.Discard, "", 0)))})}}
}

// inMemoryRegistry answers registry requests in process, without a listener.
type inMemoryRegistry struct{ handler http.Handler }

func (r inMemoryRegistry) RoundTrip(req *http.Request) (*http.Response, error) {
	// A server sees an empty body where a client request has none.
	if req.Body == nil {
		req.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	r.handler.ServeHTTP(rec, req)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}
