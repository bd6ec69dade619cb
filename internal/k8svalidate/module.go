package k8svalidate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// Upstream projects ship their CRDs as YAML inside their Go modules, so a test can fetch the exact release through
// the Go module proxy (`go mod download`) and check objects against it, without importing the module's Go code.
var (
	moduleMu   sync.Mutex
	moduleDirs = map[string]string{}
)

// ModuleDir downloads module@version into the module cache (a no-op when it is already there) and returns its
// directory. It runs the go command, so it is for tests and tools, never for the Pulumi program.
func ModuleDir(module, version string) (string, error) {
	key := module + "@" + version
	moduleMu.Lock()
	defer moduleMu.Unlock()
	if dir, ok := moduleDirs[key]; ok {
		return dir, nil
	}
	cmd := exec.Command("go", "mod", "download", "-json", key)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var info struct {
		Dir   string
		Error string
	}
	if err := json.Unmarshal(stdout.Bytes(), &info); err != nil || info.Error != "" || info.Dir == "" || runErr != nil {
		return "", fmt.Errorf("go mod download %s: %v %s %s (the Go module proxy must be reachable, or the module already in the cache)",
			key, runErr, info.Error, strings.TrimSpace(stderr.String()))
	}
	moduleDirs[key] = info.Dir
	return info.Dir, nil
}

// ModuleFile is ModuleDir joined with a path inside the module (slash-separated).
func ModuleFile(module, version, path string) (string, error) {
	dir, err := ModuleDir(module, version)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, filepath.FromSlash(path)), nil
}
