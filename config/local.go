package config

import (
	"fmt"
	"regexp"
	"strings"
)

var digestPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// Local is what the local stack (cloud: local) runs in place of the AWS data
// stores and registry: official images on the cluster of the kubeconfig.
type Local struct {
	// KubeContext is the kubeconfig context to deploy to; empty means the current one.
	KubeContext   string
	PostgresImage string
	RedisImage    string
	// StorageSize is each store's volume on the cluster's default StorageClass.
	StorageSize string
	// GatewayImage is the rate-limit gateway image to run (built with cmd/image and pushed to a local registry or
	// loaded into the cluster); AWS stacks build and push their own to ECR instead.
	GatewayImage string
}

// localFields are the local stack's settings, and the switch of monitoring, which local stacks leave off.
var localFields = []Field{
	boolField("monitoring", func(s *Stack) *bool { return &s.Monitoring.Enabled }),
	optionalString("kubeContext", func(s *Stack) *string { return &s.Local.KubeContext }, nil),
	stringField("localPostgresImage", func(s *Stack) *string { return &s.Local.PostgresImage }, pinnedImage),
	stringField("localRedisImage", func(s *Stack) *string { return &s.Local.RedisImage }, pinnedImage),
	stringField("localStorageSize", func(s *Stack) *string { return &s.Local.StorageSize }, quantity),
	optionalString("gatewayImage", func(s *Stack) *string { return &s.Local.GatewayImage }, pinnedImage),
}

func init() { Fields = append(Fields, localFields...) }

// pinnedImage is an image reference with a tag other than latest, or a digest.
func pinnedImage(v string) error {
	name, tag := v, ""
	if at := strings.LastIndexByte(v, '@'); at >= 0 {
		if !digestPattern.MatchString(v[at+1:]) {
			return fmt.Errorf("has a malformed digest; use repository@sha256:<64 hex digits>")
		}
		return nil
	}
	if colon := strings.LastIndexByte(v, ':'); colon > strings.LastIndexByte(v, '/') {
		name, tag = v[:colon], v[colon+1:]
	}
	if tag == "" || pinnedTag(tag) != nil || !imageRepoPattern.MatchString(name) {
		return fmt.Errorf("is not a pinned image; use repository:tag (never latest) or repository@sha256:digest")
	}
	return nil
}

func validateLocal(s *Stack, r *reader) {
	if s.Local.GatewayImage == "" {
		r.fail("gatewayImage", "is empty; a local stack runs a prebuilt gateway image: build it with `go run ./cmd/image --oci-layout DIR`, push it to a registry the cluster pulls from, and set that reference")
	}
}
