package main

import (
	"fmt"
	"io"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/stackauth-platform/infra/components/gatewayimage"
	"github.com/stackauth-platform/infra/config"
	"github.com/stackauth-platform/infra/internal/plan"
	"github.com/stackauth-platform/infra/internal/policy"
	"github.com/stackauth-platform/infra/program"
)

// check evaluates the posture policies against the stack and returns the exit
// code: 0 when clean, 1 with the findings listed. The plan is made without
// Preview, as after an up: every value is known (ARNs in IAM documents, Helm
// values), so no rule has to skip what a preview cannot show.
func check(stack, dir string, stdout, stderr io.Writer) int {
	program.GatewayImagePublisher = offlineGatewayImage
	p, err := plan.Run(plan.Options{Stack: stack, Dir: dir}, program.Define)
	if err != nil {
		fmt.Fprintln(stderr, "plan:", err)
		return 1
	}
	rep := policy.Evaluate(p, policy.Options{Dir: dir})
	for _, f := range rep.Findings {
		fmt.Fprintln(stdout, f)
	}
	if len(rep.Findings) > 0 {
		fmt.Fprintf(stderr, "check: stack %s: %d findings against %d rules (%d resources, %d Kubernetes objects)\n",
			stack, len(rep.Findings), rep.Rules, rep.Resources, rep.Objects)
		return 1
	}
	fmt.Fprintf(stdout, "check: stack %s passes all %d rules (%d resources, %d Kubernetes objects)\n",
		stack, rep.Rules, rep.Resources, rep.Objects)
	return 0
}

// offlineGatewayImage replaces the up-only build and push of the gateway image: a placeholder index goes to an
// in-memory registry, so the gateway Deployment references <repository>@sha256:<digest> as after a real push, and
// nothing is built or sent anywhere.
func offlineGatewayImage(_ *pulumi.Context, cfg *config.Stack) gatewayimage.Publisher {
	tag := cfg.Gateway.ImageVersion
	if tag == "" {
		tag = "0.0.0-offline"
	}
	return gatewayimage.InMemory(tag)
}

// listRules prints every rule's id and description.
func listRules(stdout io.Writer) {
	for _, r := range policy.Rules() {
		fmt.Fprintf(stdout, "%-12s %s\n", r.ID, r.Description)
	}
}
