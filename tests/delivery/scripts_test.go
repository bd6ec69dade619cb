package delivery

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

// scriptRun is one run of a repository script with stand-in commands first on PATH.
type scriptRun struct {
	stdout, stderr string
	err            error
	calls          []string // argument lists the stand-ins were called with, in order
	githubOutput   string
}

// fakeCommand is a stand-in executable: it logs its arguments, then runs body (bash).
type fakeCommand struct{ name, body string }

func runScript(t *testing.T, script string, fakes []fakeCommand, env map[string]string, args ...string) scriptRun {
	t.Helper()
	for _, tool := range []string{"bash", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is required in CI", tool)
			}
			t.Skipf("%s not installed", tool)
		}
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	callLog := filepath.Join(dir, "calls.log")
	for _, fake := range fakes {
		text := "#!/usr/bin/env bash\nprintf '%s %s\\n' \"$(basename \"$0\")\" \"$*\" >>\"$FAKE_CALL_LOG\"\n" + fake.body + "\n"
		if err := os.WriteFile(filepath.Join(bin, fake.name), []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	githubOutput := filepath.Join(dir, "github-output")
	scriptPath, err := filepath.Abs(filepath.Join(repoRoot, script))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", append([]string{scriptPath}, args...)...)
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + dir,
		"FAKE_CALL_LOG=" + callLog,
		"GITHUB_OUTPUT=" + githubOutput,
	}
	for name, value := range env {
		cmd.Env = append(cmd.Env, name+"="+value)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	run := scriptRun{err: cmd.Run(), stdout: stdout.String(), stderr: stderr.String()}
	if data, err := os.ReadFile(callLog); err == nil {
		run.calls = strings.Split(strings.TrimSpace(string(data)), "\n")
	}
	if data, err := os.ReadFile(githubOutput); err == nil {
		run.githubOutput = string(data)
	}
	return run
}

// Pulumi stand-in: prints $FAKE_PULUMI_OUTPUT for refresh and exits with $FAKE_PULUMI_EXIT.
var fakePulumi = fakeCommand{"pulumi", `[[ $1 == login ]] && exit 0
printf '%s' "$FAKE_PULUMI_OUTPUT"
exit "${FAKE_PULUMI_EXIT:-0}"`}

// Shaped like the CLI's refresh preview: a resource table, then the "Resources:" summary.
const driftedOutput = `Previewing refresh (acme/prod)

     Type                          Name            Plan       Info
     pulumi:pulumi:Stack           stackauth-prod
 ~   ├─ aws:rds/instance:Instance  db              update     [diff: ~backupRetentionPeriod]
 -   └─ aws:ec2/securityGroupRule:SecurityGroupRule  db-ingress  delete

Resources:
    ~ 1 to update
    - 1 to delete
    2 changes. 40 unchanged
`

func TestDriftCheckClassifiesTheRefreshPreview(t *testing.T) {
	const readOnlyCall = "pulumi refresh --preview-only --expect-no-changes --diff --non-interactive --color never --stack acme/prod"
	env := func(output, exit string) map[string]string {
		return map[string]string{
			"FAKE_PULUMI_OUTPUT": output, "FAKE_PULUMI_EXIT": exit,
			"PULUMI_BACKEND_URL": "s3://state-bucket", "RUN_URL": "https://github.test/run/1",
		}
	}

	t.Run("clean", func(t *testing.T) {
		report := filepath.Join(t.TempDir(), "report.md")
		run := runScript(t, ".github/scripts/drift-check.sh", []fakeCommand{fakePulumi},
			env("Resources:\n    42 unchanged\n", "0"), "acme/prod", report)
		if run.err != nil {
			t.Fatalf("%v\n%s%s", run.err, run.stdout, run.stderr)
		}
		if want := []string{"pulumi login s3://state-bucket", readOnlyCall}; !slices.Equal(run.calls, want) {
			t.Errorf("pulumi calls %q\nwant %q", run.calls, want)
		}
		if run.githubOutput != "status=clean\n" {
			t.Errorf("GITHUB_OUTPUT %q, want status=clean", run.githubOutput)
		}
		if text := readFile(t, report); !strings.Contains(text, "No drift in `acme/prod`") {
			t.Errorf("clean report:\n%s", text)
		}
	})

	t.Run("drifted", func(t *testing.T) {
		report := filepath.Join(t.TempDir(), "report.md")
		run := runScript(t, ".github/scripts/drift-check.sh", []fakeCommand{fakePulumi},
			env(driftedOutput+"\nerror: changes were detected\n", "255"), "acme/prod", report)
		if run.err != nil {
			t.Fatalf("drift is a result, not a failure: %v\n%s%s", run.err, run.stdout, run.stderr)
		}
		if run.githubOutput != "status=drifted\n" {
			t.Errorf("GITHUB_OUTPUT %q, want status=drifted", run.githubOutput)
		}
		text := readFile(t, report)
		for _, want := range []string{"## Drift in `acme/prod`", "https://github.test/run/1", "~ 1 to update", "[diff: ~backupRetentionPeriod]"} {
			if !strings.Contains(text, want) {
				t.Errorf("report lacks %q:\n%s", want, text)
			}
		}
	})

	t.Run("a failure is not drift", func(t *testing.T) {
		report := filepath.Join(t.TempDir(), "report.md")
		run := runScript(t, ".github/scripts/drift-check.sh", []fakeCommand{fakePulumi},
			env("error: failed to load checkpoint: AccessDenied\n", "255"), "acme/prod", report)
		if run.err == nil {
			t.Fatal("a failed pulumi run passed as a drift result")
		}
		if run.githubOutput != "" {
			t.Errorf("a failed run set %q; the issue step must not run", run.githubOutput)
		}
		if !strings.Contains(run.stdout, "AccessDenied") || !strings.Contains(run.stdout, "::error::") {
			t.Errorf("the failure is not shown:\n%s", run.stdout)
		}
		if _, err := os.Stat(report); err == nil {
			t.Error("a failed run wrote a report")
		}
	})

	t.Run("a long diff fits in an issue", func(t *testing.T) {
		report := filepath.Join(t.TempDir(), "report.md")
		long := driftedOutput + strings.Repeat(" ~   ├─ aws:ec2/tag:Tag  tag  update  [diff: ~value]\n", 2000)
		run := runScript(t, ".github/scripts/drift-check.sh", []fakeCommand{fakePulumi}, env(long, "255"), "acme/prod", report)
		if run.err != nil {
			t.Fatalf("%v\n%s", run.err, run.stderr)
		}
		text := readFile(t, report)
		if len(text) >= 65536 || !strings.Contains(text, "truncated at 60000 bytes") {
			t.Errorf("report of %d bytes, truncation note present: %v", len(text), strings.Contains(text, "truncated"))
		}
	})
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// gh stand-in: `issue list` prints $FAKE_OPEN_ISSUES (what --jq '.[].number' prints), `issue create` a URL.
var fakeGH = fakeCommand{"gh", `case "$1 $2" in
  "issue list") [[ -n "${FAKE_OPEN_ISSUES:-}" ]] && printf '%s\n' "$FAKE_OPEN_ISSUES" ;;
  "issue create") echo "https://github.test/acme/infra/issues/31" ;;
esac
exit 0`}

func TestDriftIssueIsOnePerStack(t *testing.T) {
	report := filepath.Join(t.TempDir(), "report.md")
	if err := os.WriteFile(report, []byte("## Drift in `acme/prod`\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const list = "gh issue list --label drift:prod --state open --limit 100 --json number --jq .[].number"
	cases := map[string]struct {
		status, open string
		want         []string
	}{
		"new drift opens an issue": {"drifted", "", []string{
			list,
			"gh label create drift:prod --color D93F0B --description Drift detected in stack prod --force",
			"gh issue create --title Drift detected in stack prod --label drift:prod --body-file " + report,
		}},
		"drift again updates the oldest open issue": {"drifted", "12\n7", []string{
			list,
			"gh label create drift:prod --color D93F0B --description Drift detected in stack prod --force",
			"gh issue edit 7 --body-file " + report,
		}},
		"clean closes it": {"clean", "7", []string{
			list,
			"gh issue close 7 --comment No drift in stack prod any more (https://github.test/run/2). Closing.",
		}},
		"clean with no issue does nothing": {"clean", "", []string{list}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			run := runScript(t, ".github/scripts/drift-issue.sh", []fakeCommand{fakeGH},
				map[string]string{"FAKE_OPEN_ISSUES": tc.open, "RUN_URL": "https://github.test/run/2"}, "prod", tc.status, report)
			if run.err != nil {
				t.Fatalf("%v\n%s", run.err, run.stderr)
			}
			if !slices.Equal(run.calls, tc.want) {
				t.Errorf("gh calls:\n%s\nwant:\n%s", strings.Join(run.calls, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}

	t.Run("bad input", func(t *testing.T) {
		for args, want := range map[string]string{
			"prod maybe " + report:                                  "status must be clean or drifted",
			"prod drifted " + filepath.Join(t.TempDir(), "none.md"): "missing or empty",
			"prod": "usage:",
		} {
			run := runScript(t, ".github/scripts/drift-issue.sh", []fakeCommand{fakeGH}, nil, strings.Fields(args)...)
			if run.err == nil || !strings.Contains(run.stderr, want) {
				t.Errorf("%q: error %v, stderr %q, want it to say %q", args, run.err, run.stderr, want)
			}
			for _, call := range run.calls {
				if strings.HasPrefix(call, "gh issue create") || strings.HasPrefix(call, "gh issue edit") || strings.HasPrefix(call, "gh issue close") {
					t.Errorf("%q changed an issue: %s", args, call)
				}
			}
		}
	})
}

// The security workflow scans each platform of the multi-arch image by its manifest digest.
func TestOCIPlatformDigest(t *testing.T) {
	images := map[string]v1.Image{}
	var addenda []mutate.IndexAddendum
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(512, 2)
		if err != nil {
			t.Fatal(err)
		}
		images[arch] = img
		addenda = append(addenda, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	nested := t.TempDir() // index.json -> image index -> platform manifests, as cmd/image writes it
	path, err := layout.Write(nested, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := path.AppendIndex(mutate.AppendManifests(empty.Index, addenda...)); err != nil {
		t.Fatal(err)
	}
	flat := t.TempDir() // index.json lists the platform manifests itself
	path, err = layout.Write(flat, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for arch, img := range images {
		if err := path.AppendImage(img, layout.WithPlatform(v1.Platform{OS: "linux", Architecture: arch})); err != nil {
			t.Fatal(err)
		}
	}

	for name, dir := range map[string]string{"nested": nested, "flat": flat} {
		for arch, img := range images {
			want, _ := img.Digest()
			run := runScript(t, ".github/scripts/oci-platform-digest.sh", nil, nil, dir, "linux/"+arch)
			if run.err != nil {
				t.Fatalf("%s linux/%s: %v\n%s", name, arch, run.err, run.stderr)
			}
			if got := strings.TrimSpace(run.stdout); got != want.String() {
				t.Errorf("%s linux/%s: digest %s, want %s", name, arch, got, want)
			}
		}
		if run := runScript(t, ".github/scripts/oci-platform-digest.sh", nil, nil, dir, "linux/s390x"); run.err == nil ||
			!strings.Contains(run.stderr, "expected one linux/s390x image") {
			t.Errorf("%s: a missing platform gave %q (%v)", name, run.stdout, run.err)
		}
	}
	if run := runScript(t, ".github/scripts/oci-platform-digest.sh", nil, nil, t.TempDir(), "linux/amd64"); run.err == nil {
		t.Error("a directory without index.json was accepted")
	}
}
