package main

import (
	"fmt"
	"os"

	"github.com/stackauth-platform/infra/internal/plan"
	"github.com/stackauth-platform/infra/internal/policy"
	"github.com/stackauth-platform/infra/program"
)

func main() {
	program.GatewayImagePublisher = placeholderGatewayImage
	p, err := plan.Run(plan.Options{Stack: os.Args[1], Preview: len(os.Args) > 2}, program.Define)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s := policy.NewStack(p, policy.Options{})
	for _, o := range s.Objects() {
		fmt.Println("OBJ", o.Label(), o.APIVersion, o.Kind)
	}
	for _, w := range s.Workloads() {
		for _, c := range w.Containers() {
			fmt.Println("CONTAINER", w.Label(), c.Name, c.Image)
		}
	}
	for _, r := range p.Resources {
		if r.Type == "kubernetes:helm.sh/v3:Release" {
			fmt.Println("RELEASE", r.Name, r.Inputs["chart"], r.Inputs["version"], r.Inputs["namespace"], r.DependsOn)
		}
	}
	for _, f := range policy.Evaluate(p, policy.Options{}).Findings {
		fmt.Println("FINDING", f)
	}
}
