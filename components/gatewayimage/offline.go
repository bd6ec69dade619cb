package gatewayimage

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
)

// Placeholder is a linux/amd64 + linux/arm64 index of empty images labelled with content, for plans made without a
// cloud: its digest follows content, as a real build's follows the source, and it takes no go build.
func Placeholder(tag, content string) Built {
	index := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{OS: "linux", Architecture: arch, Config: v1.Config{Labels: map[string]string{"content": content}}})
		if err != nil {
			panic(err) // a config file of an empty image always serialises
		}
		index = mutate.AppendManifests(index, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	return Built{Index: index, Tag: tag}
}

// InMemory publishes Placeholder(tag, "offline") to an in-memory registry in this process, for plans made as after an
// up without a cloud (the mock engine): the workload then references <repository>@sha256:<digest>, the form a real
// push gives, and nothing is built or sent anywhere.
func InMemory(tag string) Publisher {
	build := Placeholder(tag, "offline")
	return Publisher{
		Build:  func(context.Context) (Built, error) { return build, nil },
		Remote: []remote.Option{remote.WithTransport(inProcess{registry.New(registry.Logger(log.New(io.Discard, "", 0)))})},
	}
}

// inProcess answers registry requests with a handler, without a listener.
type inProcess struct{ handler http.Handler }

func (r inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil {
		req.Body = http.NoBody // a server sees an empty body where a client request has none
	}
	rec := httptest.NewRecorder()
	r.handler.ServeHTTP(rec, req)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}
