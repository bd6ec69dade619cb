package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const fixtureDir = "../../internal/ociimage/testdata/fixture"

func runImage(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), err
}

// TestTwoRunsOneDigest runs the command the way a user does, twice into two layouts.
func TestTwoRunsOneDigest(t *testing.T) {
	args := []string{"--module-dir", fixtureDir, "--main", ".", "--revision", "abc123def456", "--created", "1767225600"}
	var digests []string
	for i := range 2 {
		dir := filepath.Join(t.TempDir(), "layout")
		stdout, stderr, err := runImage(t, append(args, "--oci-layout", dir)...)
		if err != nil {
			t.Fatalf("run %d: %v\n%s", i, err, stderr)
		}
		if !regexp.MustCompile(`^sha256:[0-9a-f]{64}\n$`).MatchString(stdout) {
			t.Fatalf("stdout must be the digest alone, got %q", stdout)
		}
		if _, err := os.Stat(filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(strings.TrimSpace(stdout), "sha256:"))); err != nil {
			t.Errorf("the printed digest is not a blob of the layout: %v", err)
		}
		if !strings.Contains(stderr, "version 0.0.0-abc123def456") {
			t.Errorf("default version should derive from the revision; stderr:\n%s", stderr)
		}
		digests = append(digests, stdout)
	}
	if digests[0] != digests[1] {
		t.Errorf("two runs gave %s and %s", digests[0], digests[1])
	}
}

func TestBadInputNamesTheFlag(t *testing.T) {
	notLayout := t.TempDir()
	if err := os.WriteFile(filepath.Join(notLayout, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := []string{"--module-dir", fixtureDir, "--main", ".", "--revision", "abc123", "--created", "0"}
	cases := []struct {
		args []string
		flag string
	}{
		{[]string{}, "--oci-layout"},
		{[]string{"--oci-layout", t.TempDir(), "--created", "yesterday"}, "--created"},
		{[]string{"--oci-layout", t.TempDir(), "--platforms", "linux"}, "--platforms"},
		{append(good, "--oci-layout", t.TempDir(), "--platforms", "linux/s390x"), "--platforms"},
		{append(good, "--oci-layout", t.TempDir(), "--version", "1.0 beta"), "--version"},
		{append(good, "--oci-layout", t.TempDir(), "--source", "not a url"), "--source"},
		{[]string{"--oci-layout", t.TempDir(), "--main", "./no/such/pkg"}, "--main"},
		{[]string{"--oci-layout", t.TempDir(), "--revision", "abc123"}, "--created"},
		{append(good, "--oci-layout", t.TempDir(), "--base", "registry.example/static:latest"), "--base"},
		{append(good, "--oci-layout", notLayout), "--oci-layout"},
	}
	for _, c := range cases {
		t.Setenv("SOURCE_DATE_EPOCH", "")
		_, _, err := runImage(t, c.args...)
		var usage usageError
		if !errors.As(err, &usage) || !strings.HasPrefix(err.Error(), c.flag+":") && !strings.HasPrefix(err.Error(), c.flag+" ") {
			t.Errorf("%v: want a usage error starting with %s, got %v", c.args, c.flag, err)
		}
	}
}
