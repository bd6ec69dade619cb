package ociimage

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Revision is the last commit that changed the binary's inputs.
type Revision struct {
	Commit string
	Time   time.Time
	// Dirty is true when an input differs from that commit (edited or untracked files).
	Dirty bool
}

// Label is the revision as stamped into the image: the commit, marked when the inputs
// are not what the commit holds.
func (r Revision) Label() string {
	if r.Dirty {
		return r.Commit + "-dirty"
	}
	return r.Commit
}

// InputRevision finds the last git commit touching the inputs of the main package: the
// directories of every package of this module it depends on, plus go.mod and go.sum.
// Taking that commit (not HEAD) for the revision label and the timestamps means a commit
// elsewhere in the repository leaves the digest alone, so the workload does not roll.
func InputRevision(ctx context.Context, opts Options) (Revision, error) {
	opts, err := opts.located()
	if err != nil {
		return Revision{}, err
	}
	inputs, err := inputPaths(ctx, opts)
	if err != nil {
		return Revision{}, err
	}

	logArgs := append([]string{"log", "-1", "--format=%H %ct", "--"}, inputs...)
	out, err := git(ctx, opts.ModuleDir, logArgs...)
	if err != nil {
		return Revision{}, err
	}
	commit, seconds, ok := strings.Cut(strings.TrimSpace(out), " ")
	if !ok {
		return Revision{}, fmt.Errorf("no git commit contains %s yet; commit it, or give the revision and created time explicitly", opts.MainPackage)
	}
	unix, err := strconv.ParseInt(seconds, 10, 64)
	if err != nil {
		return Revision{}, fmt.Errorf("git log gave commit time %q: %w", seconds, err)
	}

	statusArgs := append([]string{"status", "--porcelain", "--"}, inputs...)
	status, err := git(ctx, opts.ModuleDir, statusArgs...)
	if err != nil {
		return Revision{}, err
	}
	return Revision{Commit: commit, Time: time.Unix(unix, 0).UTC(), Dirty: strings.TrimSpace(status) != ""}, nil
}

// inputPaths lists the module's own package directories the main package builds from, and
// the module files. Dependencies outside the module are pinned by go.sum.
func inputPaths(ctx context.Context, opts Options) ([]string, error) {
	cmd := exec.CommandContext(ctx, opts.GoCommand, "list", "-deps",
		"-f", "{{with .Module}}{{if .Main}}{{$.Dir}}{{end}}{{end}}", opts.MainPackage)
	cmd.Dir = opts.ModuleDir
	cmd.Env = append(os.Environ(), "GOOS=linux", "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("listing the packages %s builds from: %w%s", opts.MainPackage, err, exitStderr(err))
	}
	paths := strings.Split(strings.TrimSpace(string(out)), "\n")
	gomod, err := goEnv(ctx, opts, "GOMOD")
	if err != nil {
		return nil, err
	}
	if gomod == "" || gomod == os.DevNull {
		return nil, fmt.Errorf("%s is not inside a Go module", opts.ModuleDir)
	}
	return append(paths, gomod, filepath.Join(filepath.Dir(gomod), "go.sum")), nil
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w%s", args[0], err, exitStderr(err))
	}
	return string(out), nil
}

func exitStderr(err error) string {
	if exitErr, ok := err.(*exec.ExitError); ok && len(exitErr.Stderr) > 0 {
		return ": " + strings.TrimSpace(string(exitErr.Stderr))
	}
	return ""
}
