// Command plan shows what a stack would create, offline: it runs the real
// program on the stack's real config file under Pulumi's mock engine, as a
// first `pulumi preview` would, with no cloud account and no Pulumi CLI.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/stackauth-platform/infra/internal/plan"
	"github.com/stackauth-platform/infra/program"
)

func main() {
	stack := flag.String("stack", "", "stack to plan: the name of a Pulumi.<stack>.yaml next to Pulumi.yaml (prod, staging, local)")
	asJSON := flag.Bool("json", false, "print the plan as JSON (resources with urn, type, name, parent, provider, protect, dependsOn, inputs; outputs)")
	dir := flag.String("dir", ".", "project directory holding Pulumi.yaml")
	flag.Parse()
	if *stack == "" {
		fmt.Fprintln(os.Stderr, "plan: --stack is required, e.g. go run ./cmd/plan --stack staging")
		os.Exit(2)
	}
	p, err := plan.Run(plan.Options{Stack: *stack, Dir: *dir, Preview: true}, program.Define)
	if err != nil {
		fmt.Fprintln(os.Stderr, "plan:", err)
		os.Exit(1)
	}
	if *asJSON {
		b, err := p.JSON()
		if err != nil {
			fmt.Fprintln(os.Stderr, "plan:", err)
			os.Exit(1)
		}
		fmt.Println(string(b))
		return
	}
	fmt.Print(p.Tree())
}
