package delivery

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

var stacks = []string{"staging", "prod"}

// stepsUsing returns a job's steps (composite actions expanded) that use the given action.
func stepsUsing(t *testing.T, j *job, action string) []step {
	t.Helper()
	var out []step
	for _, s := range mustExpand(t, j) {
		if s.action() == action {
			out = append(out, s)
		}
	}
	return out
}

// runText joins the run: scripts of a job's steps (composite actions expanded).
func runText(t *testing.T, j *job) string {
	t.Helper()
	var parts []string
	for _, s := range mustExpand(t, j) {
		parts = append(parts, s.Run)
	}
	return strings.Join(parts, "\n")
}

func requireJob(t *testing.T, wf *workflow, id string) *job {
	t.Helper()
	j, ok := wf.Jobs[id]
	if !ok {
		t.Fatalf("%s: no job %s (jobs: %v)", wf.file, id, slices.Sorted(maps.Keys(wf.Jobs)))
	}
	return j
}

func TestPreviewCommentsOnPullRequestsAndFallsBackToThePlan(t *testing.T) {
	wf := loadWorkflow(t, "preview")
	on := mustTriggers(t, wf)
	if _, ok := on["pull_request"]; !ok || len(on) != 1 {
		t.Errorf("preview triggers %v, want only pull_request", slices.Sorted(maps.Keys(on)))
	}

	preview := requireJob(t, wf, "preview")
	if got := stringList(preview.Strategy.Matrix["stack"]); !slices.Equal(got, stacks) {
		t.Errorf("preview matrix stacks %q, want %q", got, stacks)
	}
	runs := stepsUsing(t, preview, "pulumi/actions")
	var previewStep *step
	for i := range runs {
		if runs[i].With["command"] != "" {
			previewStep = &runs[i]
		}
	}
	if previewStep == nil {
		t.Fatal("preview job runs no pulumi/actions command")
	}
	want := map[string]string{
		"command":         "preview",
		"stack-name":      "${{ vars.PULUMI_ORG }}/${{ matrix.stack }}",
		"comment-on-pr":   "true",
		"edit-pr-comment": "true", // one comment per stack, edited on each push
	}
	for input, value := range want {
		if previewStep.With[input] != value {
			t.Errorf("preview step %s = %q, want %q", input, previewStep.With[input], value)
		}
	}
	creds := stepsUsing(t, preview, "aws-actions/configure-aws-credentials")
	if len(creds) != 1 {
		t.Fatalf("preview job configures AWS credentials %d times, want once", len(creds))
	}
	if _, keys := creds[0].With["aws-access-key-id"]; keys || creds[0].With["role-to-assume"] == "" {
		t.Error("preview must assume a role by OIDC, not use access keys")
	}
	for _, s := range preview.Steps {
		if role, ok := s.With["role-to-assume"]; ok && role != readOnlyRole {
			t.Errorf("preview assumes %s, want the read-only role", role)
		}
	}

	fallback := requireJob(t, wf, "offline-plan")
	if preview.If != "needs.credentials.outputs.available == 'true'" ||
		fallback.If != "needs.credentials.outputs.available != 'true'" {
		t.Errorf("preview (if %q) and offline-plan (if %q) must cover the two cases of the credentials check",
			preview.If, fallback.If)
	}
	if got := stringList(fallback.Strategy.Matrix["stack"]); !slices.Equal(got, stacks) {
		t.Errorf("offline-plan matrix stacks %q, want %q", got, stacks)
	}
	if text := runText(t, fallback); !strings.Contains(text, `go run ./cmd/plan --stack "$STACK" --json > "plan-$STACK.json"`) {
		t.Errorf("offline-plan does not write the JSON plan of the stack:\n%s", text)
	}
	uploads := stepsUsing(t, fallback, "actions/upload-artifact")
	if len(uploads) != 1 || uploads[0].With["path"] != "plan-${{ matrix.stack }}.json" {
		t.Errorf("offline-plan must upload plan-<stack>.json as an artefact, got %+v", uploads)
	}
	if len(stepsUsing(t, fallback, "aws-actions/configure-aws-credentials")) != 0 {
		t.Error("offline-plan is the path without credentials; it must not ask for any")
	}
}

func TestDeployRunsStagingThenProdBehindTheEnvironment(t *testing.T) {
	wf := loadWorkflow(t, "deploy")
	on := mustTriggers(t, wf)
	if _, pr := on["pull_request"]; pr {
		t.Error("deploy must never run for pull requests")
	}
	push, ok := on["push"]
	if !ok {
		t.Fatal("deploy does not run on push")
	}
	var pushFilter struct {
		Branches []string `yaml:"branches"`
	}
	if err := push.Decode(&pushFilter); err != nil || !slices.Equal(pushFilter.Branches, []string{"main"}) {
		t.Errorf("deploy push branches %q (%v), want [main]", pushFilter.Branches, err)
	}

	environments := map[string]string{"staging": "staging", "prod": "production"}
	for _, stack := range stacks {
		j := requireJob(t, wf, stack)
		if env := mapping(j.Environment); env[""] != environments[stack] && env["name"] != environments[stack] {
			t.Errorf("job %s: environment %v, want %s", stack, env, environments[stack])
		}
		concurrency := mapping(j.Concurrency)
		if concurrency["group"] != "deploy-"+stack || concurrency["cancel-in-progress"] != "false" {
			t.Errorf("job %s: concurrency %v, want group deploy-%s with cancel-in-progress false", stack, concurrency, stack)
		}
		ups := stepsUsing(t, j, "pulumi/actions")
		var commands []string
		for _, s := range ups {
			if s.With["command"] != "" {
				commands = append(commands, s.With["command"]+" "+s.With["stack-name"])
			}
		}
		if want := []string{"up ${{ vars.PULUMI_ORG }}/" + stack}; !slices.Equal(commands, want) {
			t.Errorf("job %s runs %q, want %q", stack, commands, want)
		}
		for _, s := range j.Steps {
			if role, ok := s.With["role-to-assume"]; ok && role != "${{ vars.AWS_DEPLOY_ROLE_ARN }}" {
				t.Errorf("job %s assumes %s, want the deploy role", stack, role)
			}
		}
	}
	if needs := stringList(requireJob(t, wf, "prod").Needs); !slices.Equal(needs, []string{"staging"}) {
		t.Errorf("prod needs %q, want [staging]: prod goes only after staging succeeded", needs)
	}
}

func TestLoadTestingRunsTheK6ScriptAndKeepsItsSummary(t *testing.T) {
	wf := loadWorkflow(t, "load-testing")
	dispatch, ok := mustTriggers(t, wf)["workflow_dispatch"]
	if !ok {
		t.Fatal("no workflow_dispatch")
	}
	var inputs struct {
		Inputs map[string]struct {
			Type    string   `yaml:"type"`
			Options []string `yaml:"options"`
			Default string   `yaml:"default"`
		} `yaml:"inputs"`
	}
	if err := dispatch.Decode(&inputs); err != nil {
		t.Fatal(err)
	}
	wantInputs := map[string][]string{"environment": {"staging", "prod"}, "duration": {"short", "long"}}
	if got := slices.Sorted(maps.Keys(inputs.Inputs)); !slices.Equal(got, []string{"duration", "environment"}) {
		t.Errorf("dispatch inputs %q, want duration and environment", got)
	}
	for name, options := range wantInputs {
		in := inputs.Inputs[name]
		if in.Type != "choice" || !slices.Equal(in.Options, options) || in.Default != options[0] {
			t.Errorf("input %s: type %q options %q default %q, want a choice of %q defaulting to %s",
				name, in.Type, in.Options, in.Default, options, options[0])
		}
	}

	j := requireJob(t, wf, "k6")
	if len(stepsUsing(t, j, "grafana/setup-k6-action")) != 1 {
		t.Error("k6 is not installed with grafana/setup-k6-action")
	}
	text := runText(t, j)
	for _, want := range []string{"k6 run", "--summary-export=k6-summary.json", "tests/load-testing/k6/auth-flow.js"} {
		if !strings.Contains(text, want) {
			t.Errorf("k6 job does not run %q:\n%s", want, text)
		}
	}
	if j.Env["PROFILE"] != "${{ inputs.duration || 'long' }}" {
		t.Errorf("PROFILE is %q; the k6 profile must follow the duration input", j.Env["PROFILE"])
	}
	for _, name := range []string{"BASE_URL", "PROJECT_ID", "PUBLISHABLE_CLIENT_KEY"} {
		if j.Env[name] == "" {
			t.Errorf("the k6 job does not set %s, which the script requires", name)
		}
	}
	uploads := stepsUsing(t, j, "actions/upload-artifact")
	if len(uploads) != 1 || !strings.Contains(uploads[0].With["path"], "k6-summary.json") ||
		!strings.HasPrefix(uploads[0].If, "always()") {
		t.Errorf("the k6 summary must be uploaded even when thresholds fail, got %+v", uploads)
	}
}

func TestSecurityScansEverythingTheGuideLists(t *testing.T) {
	wf := loadWorkflow(t, "security")
	on := mustTriggers(t, wf)
	var pushFilter struct {
		Branches []string `yaml:"branches"`
	}
	push := on["push"]
	if err := push.Decode(&pushFilter); err != nil || !slices.Equal(pushFilter.Branches, []string{"main", "dev"}) {
		t.Errorf("security push branches %q (%v), want [main dev]", pushFilter.Branches, err)
	}
	if _, ok := on["pull_request"]; !ok {
		t.Error("security does not run on pull requests")
	}

	type scan struct {
		job   string
		check func(j *job) bool
	}
	scans := map[string]scan{
		"secrets: gitleaks over the history": {"gitleaks", func(j *job) bool {
			return strings.Contains(runText(t, j), "gitleaks git") && mustExpand(t, j)[0].With["fetch-depth"] == "0"
		}},
		"SAST: CodeQL for Go": {"codeql", func(j *job) bool {
			init := stepsUsing(t, j, "github/codeql-action/init")
			return len(init) == 1 && init[0].With["languages"] == "go" && len(stepsUsing(t, j, "github/codeql-action/analyze")) == 1
		}},
		"SAST: semgrep": {"semgrep", func(j *job) bool { return strings.Contains(runText(t, j), "semgrep scan") }},
		"dependencies: govulncheck": {"govulncheck", func(j *job) bool {
			return strings.Contains(runText(t, j), "govulncheck ./...")
		}},
		"container: trivy on the built image": {"trivy-image", func(j *job) bool {
			trivy := stepsUsing(t, j, "aquasecurity/trivy-action")
			return strings.Contains(runText(t, j), "go run ./cmd/image --oci-layout") &&
				len(trivy) == 1 && trivy[0].With["scan-type"] == "image" && trivy[0].With["input"] != "" &&
				slices.Equal(stringList(j.Strategy.Matrix["platform"]), []string{"linux/amd64", "linux/arm64"})
		}},
		"IaC: trivy config over the repository and its chart": {"trivy-config", func(j *job) bool {
			trivy := stepsUsing(t, j, "aquasecurity/trivy-action")
			return len(trivy) == 1 && trivy[0].With["scan-type"] == "config" && trivy[0].With["scan-ref"] == "."
		}},
		"DAST: ZAP baseline against staging": {"zap", func(j *job) bool {
			zap := stepsUsing(t, j, "zaproxy/action-baseline")
			return len(zap) == 1 && strings.Contains(zap[0].With["target"], "vars.STAGING_")
		}},
		"licenses: go-licenses": {"licenses", func(j *job) bool {
			return strings.Contains(runText(t, j), "go-licenses check ./...")
		}},
	}
	for name, sc := range scans {
		j, ok := wf.Jobs[sc.job]
		if !ok {
			t.Errorf("%s: no job %s", name, sc.job)
			continue
		}
		if !sc.check(j) {
			t.Errorf("%s: job %s does not do it", name, sc.job)
		}
	}

	// Every SARIF report reaches the Security tab under its own category (uploads with one category replace
	// each other), and is uploaded even when the scan step failed on findings.
	categories := map[string]string{}
	for id, j := range wf.Jobs {
		for _, s := range stepsUsing(t, j, "github/codeql-action/upload-sarif") {
			category := s.With["category"]
			if other, dup := categories[category]; dup || category == "" {
				t.Errorf("job %s: SARIF category %q is empty or also used by %s", id, category, other)
			}
			categories[category] = id
			if !strings.HasPrefix(s.If, "always()") {
				t.Errorf("job %s: upload-sarif runs only when the scan passed; use if: always() && ...", id)
			}
		}
	}
	for _, id := range []string{"gitleaks", "semgrep", "govulncheck", "trivy-image", "trivy-config"} {
		if !slices.Contains(slices.Collect(maps.Values(categories)), id) {
			t.Errorf("job %s uploads no SARIF", id)
		}
	}
}
