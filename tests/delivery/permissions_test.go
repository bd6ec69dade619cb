package delivery

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// writeScopeUse says, for each scope a job may hold with write access, which of its steps needs it.
var writeScopeUse = map[string]func(s step, shell map[string]string) bool{
	// OIDC token for AWS role assumption.
	"id-token": func(s step, _ map[string]string) bool {
		return s.action() == "aws-actions/configure-aws-credentials"
	},
	// The preview comment on the pull request.
	"pull-requests": func(s step, _ map[string]string) bool {
		return s.action() == "pulumi/actions" && s.With["comment-on-pr"] == "true"
	},
	// The drift issues and their labels.
	"issues": func(_ step, shell map[string]string) bool {
		for _, text := range shell {
			if ghIssueCommand.MatchString(text) {
				return true
			}
		}
		return false
	},
	// SARIF to the Security tab.
	"security-events": func(s step, _ map[string]string) bool {
		return s.action() == "github/codeql-action/upload-sarif" || s.action() == "github/codeql-action/analyze"
	},
}

var ghIssueCommand = regexp.MustCompile(`(?m)^\s*(?:[^#\n]*\s)?gh\s+(?:issue|label)\s`)

// readScopeUse: read access beyond contents, and who needs it.
var readScopeUse = map[string]func(s step) bool{
	"contents": func(step) bool { return true },
	// CodeQL reads the workflow run's metadata (needed in private repositories).
	"actions": func(s step) bool { return s.action() == "github/codeql-action/init" },
}

// permissionFindings lists every scope a job holds that none of its steps uses, and jobs that inherit the
// workflow's token instead of declaring their own.
func permissionFindings(wf *workflow, read repoFiles) []string {
	var findings []string
	if perms, err := permissions(wf.Permissions); err != nil {
		findings = append(findings, fmt.Sprintf("%s: %v", wf.file, err))
	} else if !maps.Equal(perms, map[string]string{"contents": "read"}) {
		findings = append(findings, fmt.Sprintf("%s: workflow permissions %v; the default for every job must be contents: read", wf.file, perms))
	}
	for _, id := range slices.Sorted(maps.Keys(wf.Jobs)) {
		j := wf.Jobs[id]
		if j.Permissions.Kind == 0 {
			findings = append(findings, fmt.Sprintf("%s: job %s declares no permissions; say which scopes it needs", wf.file, id))
			continue
		}
		perms, err := permissions(j.Permissions)
		if err != nil {
			findings = append(findings, fmt.Sprintf("%s: job %s: %v", wf.file, id, err))
			continue
		}
		steps, err := expandSteps(j.Steps, read)
		if err != nil {
			findings = append(findings, fmt.Sprintf("%s: job %s: %v", wf.file, id, err))
			continue
		}
		for _, scope := range slices.Sorted(maps.Keys(perms)) {
			level := perms[scope]
			used := false
			switch level {
			case "write":
				uses, known := writeScopeUse[scope]
				if !known {
					findings = append(findings, fmt.Sprintf("%s: job %s holds %s: write, which no delivery job needs", wf.file, id, scope))
					continue
				}
				for _, s := range steps {
					shell, err := shellSources(s, read)
					if err != nil {
						findings = append(findings, fmt.Sprintf("%s: job %s: %v", wf.file, id, err))
					}
					used = used || uses(s, shell)
				}
			case "read":
				uses, known := readScopeUse[scope]
				for _, s := range steps {
					used = used || (known && uses(s))
				}
			case "none":
				used = true
			default:
				findings = append(findings, fmt.Sprintf("%s: job %s: %s: %q is not a permission level", wf.file, id, scope, level))
				continue
			}
			if !used {
				findings = append(findings, fmt.Sprintf("%s: job %s holds %s: %s but no step uses it", wf.file, id, scope, level))
			}
		}
	}
	return findings
}

func TestPermissionsAreLeastPrivilege(t *testing.T) {
	for _, wf := range loadAllWorkflows(t) {
		for _, finding := range permissionFindings(wf, readRepoFile) {
			t.Error(finding)
		}
	}
}

func TestPermissionCheckCatchesExcess(t *testing.T) {
	cases := map[string]string{
		"write-all":       "    permissions: write-all\n",
		"unused id-token": "    permissions:\n      contents: read\n      id-token: write\n",
		"contents write":  "    permissions:\n      contents: write\n",
		"unused issues":   "    permissions:\n      contents: read\n      issues: write\n",
		"inherited":       "",
	}
	for name, perms := range cases {
		t.Run(name, func(t *testing.T) {
			text := "name: x\non: push\npermissions:\n  contents: read\njobs:\n  build:\n    runs-on: ubuntu-latest\n" +
				perms + "    steps:\n      - run: make test\n"
			wf, err := parseWorkflow(name, []byte(text))
			if err != nil {
				t.Fatal(err)
			}
			if findings := permissionFindings(wf, readRepoFile); len(findings) == 0 {
				t.Errorf("no finding for %s", name)
			}
		})
	}
}

// Action refs: a major tag, an exact version or a commit, never a branch. Actions whose tags have been
// rewritten by an attacker are pinned by commit.
var (
	versionRef       = regexp.MustCompile(`^v\d+(\.\d+){0,2}$`)
	commitRef        = regexp.MustCompile(`^[0-9a-f]{40}$`)
	pinnedByCommitOn = []string{"aquasecurity/"} // CVE-2026-33634: trivy-action tags force-pushed, March 2026
)

// pulumiActionInputs are pulumi/actions' inputs (its action.yml); actionlint has no data for v7, so a
// misspelt input would otherwise be ignored silently.
var pulumiActionInputs = []string{
	"always-include-summary", "cloud-url", "color", "command", "comment-on-pr", "comment-on-pr-number",
	"comment-on-summary", "config-map", "continue-on-error", "debug", "diff", "edit-pr-comment", "exclude",
	"exclude-dependents", "exclude-protected", "expect-no-changes", "github-token", "log-flow", "log-verbosity",
	"message", "parallel", "plan", "policyPackConfigs", "policyPacks", "pulumi-version", "pulumi-version-file",
	"refresh", "remove", "replace", "secrets-provider", "stack-name", "suppress-outputs", "suppress-progress",
	"target", "target-dependents", "upsert", "work-dir",
}

func TestActionsArePinnedAndUsedWithKnownInputs(t *testing.T) {
	for _, wf := range loadAllWorkflows(t) {
		for id, j := range wf.Jobs {
			for _, s := range mustExpand(t, j) {
				if s.Uses == "" || strings.HasPrefix(s.Uses, "./") {
					continue
				}
				name, ref, ok := strings.Cut(s.Uses, "@")
				switch {
				case !ok:
					t.Errorf("%s: job %s: %s has no ref", wf.file, id, s.Uses)
				case slices.ContainsFunc(pinnedByCommitOn, func(prefix string) bool { return strings.HasPrefix(name, prefix) }):
					if !commitRef.MatchString(ref) {
						t.Errorf("%s: job %s: %s must be pinned by commit", wf.file, id, s.Uses)
					}
				case !versionRef.MatchString(ref) && !commitRef.MatchString(ref):
					t.Errorf("%s: job %s: %s is not pinned to a version or commit", wf.file, id, s.Uses)
				}
				if name == "pulumi/actions" {
					for input := range s.With {
						if !slices.Contains(pulumiActionInputs, input) {
							t.Errorf("%s: job %s: pulumi/actions has no input %q", wf.file, id, input)
						}
					}
				}
			}
		}
	}
}
