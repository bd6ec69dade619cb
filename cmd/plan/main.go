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
	runCheck := flag.Bool("check", false, "evaluate the posture policies (internal/policy) against the stack and exit 1 listing the findings")
	rules := flag.Bool("list-rules", false, "list the posture policies (id and description) and exit")
	flag.Parse()
	if *rules {
		listRules(os.Stdout)
		return
	}
	if *stack == "" {
		fmt.Fprintln(os.Stderr, "plan: --stack is required, e.g. go run ./cmd/plan --stack staging")
		os.Exit(2)
	}
	if *runCheck {
		os.Exit(check(*stack, *dir, os.Stdout, os.Stderr))
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
