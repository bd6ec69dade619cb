package program

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/stackauth-platform/infra/config"
)

// Platform collects what the in-cluster components provide to each other, so
// each can depend on what it needs (custom resources on the release that
// installs their CRDs, the app on the synced Secret, ...).
type Platform struct {
	// Kubernetes deploys into the stack's cluster.
	Kubernetes pulumi.ProviderResource
}

// inCluster deploys everything that runs on the cluster, in dependency order.
// Each concern lives in its own component; this function only wires them.
func inCluster(ctx *pulumi.Context, cfg *config.Stack, f *Foundation) (*Platform, error) {
	p := &Platform{Kubernetes: f.Cluster.Provider}
	return p, nil
}
