package delivery

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// The drift job's token: read the code, assume the read-only AWS role, keep the drift issues.
var driftJobPermissions = map[string]string{"contents": "read", "id-token": "write", "issues": "write"}

const readOnlyRole = "${{ vars.AWS_READONLY_ROLE_ARN }}"

// pulumiInvocation is one `pulumi <subcommand> ...` found in shell source.
type pulumiInvocation struct {
	source  string
	command string
	args    []string
}

var (
	shellComment  = regexp.MustCompile(`(^|\s)#.*$`)
	pulumiCommand = regexp.MustCompile(`(?:^|[\s;&|({` + "`" + `])pulumi(?:\s+([^;&|)` + "`" + `]*))?(?:$|[;&|)` + "`" + `])`)
)

// pulumiInvocations finds the pulumi CLI calls in shell text: line continuations joined, comments dropped,
// each command cut at the shell's separators. It errs on the side of finding too much: a `pulumi up` inside
// an echoed string counts as a call.
func pulumiInvocations(source, text string) []pulumiInvocation {
	var found []pulumiInvocation
	for _, line := range strings.Split(strings.ReplaceAll(text, "\\\n", " "), "\n") {
		line = shellComment.ReplaceAllString(line, "")
		for _, match := range pulumiCommand.FindAllStringSubmatch(line, -1) {
			var args []string
			for _, field := range strings.Fields(match[1]) {
				args = append(args, strings.Trim(field, `"'`))
			}
			found = append(found, pulumiInvocation{source: source, command: strings.TrimSpace(match[0]), args: args})
		}
	}
	return found
}

func flagOn(args []string, names ...string) bool {
	for _, arg := range args {
		for _, name := range names {
			if arg == name || arg == name+"=true" {
				return true
			}
		}
	}
	return false
}

// checkReadOnlyPulumi accepts only pulumi calls that cannot write a stack's state: logging in (which writes
// local credentials only), version information, and the two drift comparisons.
func checkReadOnlyPulumi(args []string) error {
	if len(args) == 0 {
		return errors.New("pulumi without a subcommand this check can read")
	}
	sub, flags := args[0], args[1:]
	switch sub {
	case "login", "version", "whoami", "about":
		return nil
	case "refresh":
		if !flagOn(flags, "--preview-only") || !flagOn(flags, "--expect-no-changes") {
			return errors.New("refresh without both --preview-only and --expect-no-changes writes the refreshed state")
		}
		if flagOn(flags, "--skip-preview", "--yes", "-y") {
			return errors.New("refresh with --skip-preview/--yes is asking to apply")
		}
		return nil
	case "preview":
		if !flagOn(flags, "--refresh", "-r") || !flagOn(flags, "--expect-no-changes") {
			return errors.New("the drift preview is `preview --refresh --expect-no-changes`")
		}
		return nil
	default:
		return fmt.Errorf("pulumi %s is not a read-only comparison", sub)
	}
}

// checkReadOnlyPulumiAction accepts pulumi/actions only to install the CLI (no command) or to run
// `preview --refresh --expect-no-changes`; the action has no preview-only refresh.
func checkReadOnlyPulumiAction(s step) error {
	switch command := s.With["command"]; {
	case command == "":
		return nil
	case command == "preview" && s.With["refresh"] == "true" && s.With["expect-no-changes"] == "true":
		return nil
	default:
		return fmt.Errorf("pulumi/actions command %q (refresh=%q, expect-no-changes=%q) can write state or is not a drift check",
			command, s.With["refresh"], s.With["expect-no-changes"])
	}
}

// readOnlyReport lists why a workflow could write state (violations) and the read-only drift comparisons it
// does run (comparisons), so that a workflow which compares nothing does not pass as read-only.
type readOnlyReport struct {
	violations  []string
	comparisons []string
}

func checkReadOnlyWorkflow(wf *workflow, read repoFiles) readOnlyReport {
	var report readOnlyReport
	fail := func(format string, args ...any) {
		report.violations = append(report.violations, fmt.Sprintf(format, args...))
	}
	if perms, err := permissions(wf.Permissions); err != nil {
		fail("workflow: %v", err)
	} else if !maps.Equal(perms, map[string]string{"contents": "read"}) {
		fail("workflow permissions %v, want only contents: read", perms)
	}
	for _, id := range slices.Sorted(maps.Keys(wf.Jobs)) {
		j := wf.Jobs[id]
		if perms, err := permissions(j.Permissions); err != nil {
			fail("job %s: %v", id, err)
		} else if !maps.Equal(perms, driftJobPermissions) {
			fail("job %s: permissions %v, want exactly %v", id, perms, driftJobPermissions)
		}
		if j.Environment.Kind != 0 {
			fail("job %s: uses an environment, whose secrets and roles are the deploy's", id)
		}
		if j.Uses != "" {
			fail("job %s: calls reusable workflow %s, which this check cannot see into", id, j.Uses)
		}
		for _, s := range j.Steps {
			if role, ok := s.With["role-to-assume"]; ok && role != readOnlyRole {
				fail("job %s, step %q: assumes %s, want the read-only role %s", id, s.label(), role, readOnlyRole)
			}
		}
		steps, err := expandSteps(j.Steps, read)
		if err != nil {
			fail("job %s: %v", id, err)
			continue
		}
		for _, s := range steps {
			if _, ok := s.With["aws-access-key-id"]; ok {
				fail("job %s, step %q: long-lived AWS keys; assume the read-only role by OIDC", id, s.label())
			}
			if role, ok := s.With["role-to-assume"]; ok && role != readOnlyRole && role != "${{ inputs.role-to-assume }}" {
				fail("job %s, step %q: assumes %s", id, s.label(), role)
			}
			if s.action() == "pulumi/actions" {
				if err := checkReadOnlyPulumiAction(s); err != nil {
					fail("job %s, step %q: %v", id, s.label(), err)
				} else if s.With["command"] != "" {
					report.comparisons = append(report.comparisons, "pulumi/actions preview --refresh --expect-no-changes")
				}
			}
			sources, err := shellSources(s, read)
			if err != nil {
				fail("job %s: %v", id, err)
				continue
			}
			for _, name := range slices.Sorted(maps.Keys(sources)) {
				for _, call := range pulumiInvocations(name, sources[name]) {
					if err := checkReadOnlyPulumi(call.args); err != nil {
						fail("job %s, %s: `%s`: %v", id, call.source, call.command, err)
					} else if call.args[0] == "refresh" || call.args[0] == "preview" {
						report.comparisons = append(report.comparisons, call.source+": "+call.command)
					}
				}
			}
		}
	}
	sort.Strings(report.violations)
	return report
}

func TestDriftWorkflowCannotWriteState(t *testing.T) {
	report := checkReadOnlyWorkflow(loadWorkflow(t, "drift"), readRepoFile)
	for _, v := range report.violations {
		t.Error(v)
	}
	if len(report.comparisons) == 0 {
		t.Error("the drift workflow runs no drift comparison at all")
	}
	t.Logf("drift comparisons: %q", report.comparisons)
}

func TestReadOnlyCheckCatchesStateWrites(t *testing.T) {
	const goodPermissions = "contents: read\n      id-token: write\n      issues: write"
	driftWorkflow := func(permissions, steps string) string {
		return `name: drift
on: {workflow_dispatch: {}}
permissions:
  contents: read
jobs:
  drift:
    runs-on: ubuntu-latest
    permissions:
      ` + permissions + `
    steps:
` + steps
	}
	runStep := func(script string) string {
		return "      - run: |\n" + indent(script, "          ")
	}
	files := map[string]string{
		".github/scripts/sneaky.sh":         "#!/bin/sh\npulumi refresh --preview-only --expect-no-changes -s x\n./.github/scripts/deeper.sh\n",
		".github/scripts/deeper.sh":         "#!/bin/sh\npulumi up --yes -s x # fix it while we are here\n",
		".github/actions/writer/action.yml": "runs:\n  using: composite\n  steps:\n    - uses: pulumi/actions@v7\n      with:\n        command: up\n        stack-name: o/x\n",
	}
	read := func(rel string) ([]byte, error) {
		text, ok := files[rel]
		if !ok {
			return nil, fmt.Errorf("no file %s", rel)
		}
		return []byte(text), nil
	}
	cases := map[string]struct {
		yaml string
		want string // a substring of one violation
	}{
		"pulumi up":            {driftWorkflow(goodPermissions, runStep("pulumi up --yes --stack o/prod")), "pulumi up"},
		"plain refresh":        {driftWorkflow(goodPermissions, runStep("pulumi refresh --expect-no-changes --stack o/prod")), "writes the refreshed state"},
		"refresh that applies": {driftWorkflow(goodPermissions, runStep("pulumi refresh --preview-only --expect-no-changes --skip-preview -s x")), "asking to apply"},
		"preview without refresh": {driftWorkflow(goodPermissions, runStep("pulumi preview --expect-no-changes -s x")),
			"preview --refresh --expect-no-changes"},
		"destroy after continuation": {driftWorkflow(goodPermissions, runStep("echo start && \\\n  pulumi destroy -s x")), "pulumi destroy"},
		"import":                     {driftWorkflow(goodPermissions, runStep("pulumi import aws:s3/bucket:Bucket b b -s x")), "pulumi import"},
		"state edit":                 {driftWorkflow(goodPermissions, runStep("pulumi state delete urn:pulumi:x -s x")), "pulumi state"},
		"stack command":              {driftWorkflow(goodPermissions, runStep("pulumi stack rm --yes x")), "pulumi stack"},
		"subcommand variable":        {driftWorkflow(goodPermissions, runStep("cmd=up\npulumi \"$cmd\" -s x")), "pulumi $cmd"},
		"in a subshell":              {driftWorkflow(goodPermissions, runStep("out=$(pulumi up -s x)")), "pulumi up"},
		"script called by the step, two deep": {driftWorkflow(goodPermissions, runStep(".github/scripts/sneaky.sh")),
			".github/scripts/deeper.sh: `pulumi up"},
		"action up": {driftWorkflow(goodPermissions, "      - uses: pulumi/actions@v7\n        with:\n          command: up\n          stack-name: o/x\n"),
			`command "up"`},
		"action refresh": {driftWorkflow(goodPermissions, "      - uses: pulumi/actions@v7\n        with:\n          command: refresh\n          expect-no-changes: true\n"),
			`command "refresh"`},
		"composite action that deploys": {driftWorkflow(goodPermissions, "      - uses: ./.github/actions/writer\n"), `command "up"`},
		"contents write": {driftWorkflow("contents: write\n      id-token: write\n      issues: write", runStep("true")),
			"permissions map[contents:write"},
		"write-all": {driftWorkflow("write-all", runStep("true")), "grants every scope"},
		"deploy role": {driftWorkflow(goodPermissions, "      - uses: aws-actions/configure-aws-credentials@v6\n        with:\n          role-to-assume: ${{ vars.AWS_DEPLOY_ROLE_ARN }}\n          aws-region: eu-west-1\n"),
			"AWS_DEPLOY_ROLE_ARN"},
		"long-lived keys": {driftWorkflow(goodPermissions, "      - uses: aws-actions/configure-aws-credentials@v6\n        with:\n          aws-access-key-id: ${{ secrets.KEY }}\n          aws-region: eu-west-1\n"),
			"long-lived AWS keys"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			wf, err := parseWorkflow(name, []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			report := checkReadOnlyWorkflow(wf, read)
			for _, v := range report.violations {
				if strings.Contains(v, tc.want) {
					return
				}
			}
			t.Errorf("no violation mentioning %q; got %q", tc.want, report.violations)
		})
	}

	t.Run("the allowed comparisons pass", func(t *testing.T) {
		for _, script := range []string{
			"pulumi login s3://state\npulumi refresh --preview-only --expect-no-changes --diff \\\n  --stack o/prod >log 2>&1",
			"pulumi preview --refresh --expect-no-changes --stack o/prod",
			"pulumi version # which CLI",
		} {
			wf, err := parseWorkflow("ok", []byte(driftWorkflow(goodPermissions, runStep(script))))
			if err != nil {
				t.Fatal(err)
			}
			if report := checkReadOnlyWorkflow(wf, read); len(report.violations) > 0 {
				t.Errorf("%q: unexpected violations %q", script, report.violations)
			}
		}
	})
}

func indent(text, prefix string) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	for i, line := range lines {
		lines[i] = prefix + line
	}
	return strings.Join(lines, "\n") + "\n"
}
