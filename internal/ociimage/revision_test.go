package ociimage

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gitRun runs git in dir with a fixed identity and commit date.
func gitRun(t *testing.T, dir, date string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.com")
	if date != "" {
		cmd.Env = append(cmd.Env, "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestInputRevision(t *testing.T) {
	ctx := context.Background()
	repo := t.TempDir()
	module := filepath.Join(repo, "svc")
	if err := os.MkdirAll(module, 0o755); err != nil {
		t.Fatal(err)
	}
	fixture := fixtureModule(t)
	for _, name := range []string{"main.go", "go.mod"} {
		body, err := os.ReadFile(filepath.Join(fixture, name))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(module, name), string(body))
	}
	opts := Options{ModuleDir: module, MainPackage: "."}

	gitRun(t, repo, "", "init", "-q")
	if _, err := InputRevision(ctx, opts); err == nil {
		t.Error("a module with no commit yet must give an error")
	}

	gitRun(t, repo, "", "add", ".")
	gitRun(t, repo, "2026-10-01T12:00:00Z", "commit", "-q", "-m", "service")
	serviceCommit := gitRun(t, repo, "", "rev-parse", "HEAD")

	// A commit outside the service's inputs must not move its revision.
	writeFile(t, filepath.Join(repo, "NOTES.md"), "unrelated\n")
	gitRun(t, repo, "", "add", "NOTES.md")
	gitRun(t, repo, "2026-10-05T12:00:00Z", "commit", "-q", "-m", "notes")

	rev, err := InputRevision(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := Revision{Commit: serviceCommit, Time: time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)}
	if rev != want {
		t.Fatalf("InputRevision = %+v, want %+v", rev, want)
	}

	// An uncommitted edit to an input marks the revision dirty.
	writeFile(t, filepath.Join(module, "extra.go"), "package main\n")
	if rev, err = InputRevision(ctx, opts); err != nil || !rev.Dirty || rev.Label() != serviceCommit+"-dirty" {
		t.Errorf("after an untracked source file: %+v, %v; want dirty", rev, err)
	}
}
