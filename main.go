// Command stackauth is the Pulumi program that runs Stack Auth in production.
// All wiring lives in package program, so the offline plan and the tests run
// exactly what `pulumi up` runs.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/stackauth-platform/infra/program"
)

func main() {
	pulumi.Run(program.Run)
}
