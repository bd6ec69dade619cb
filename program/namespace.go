package program

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/stackauth-platform/infra/components/namespace"
	"github.com/stackauth-platform/infra/config"
)

// appNamespace creates the stack's namespace (stack-auth-<stack>), where Stack Auth, the rate-limit gateway, the
// synced Secret and the Gateway live; Pod Security restricted is enforced there, and a default-deny NetworkPolicy.
func appNamespace(ctx *pulumi.Context, cfg *config.Stack, p *Platform) error {
	// Every pod there is isolated unless its own workload's policies admit a flow.
	ns, err := namespace.NewNamespace(ctx, "app-namespace", namespace.Args{Name: cfg.Namespace(), DefaultDeny: true}, pulumi.Provider(p.Kubernetes))
	if err != nil {
		return err
	}
	p.Namespace = ns
	return nil
}
