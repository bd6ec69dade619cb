package ociimage

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// DefaultMainPackage is the rate limiter's main package, relative to the module root.
const DefaultMainPackage = "./ratelimit/cmd/ratelimit"

// EntrypointPath is where the binary sits in the image; the image's entrypoint runs it.
const EntrypointPath = "/usr/local/bin/ratelimit"

// NonRootUID is the numeric user and group the container runs as. Numeric, so that
// Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
const NonRootUID = 65532

// Options describe one image build. Version, Revision, Source and Created are required:
// they are stamped into the image, and leaving them to defaults here would hide where a
// digest change came from.
type Options struct {
	// ModuleDir is the directory `go build` runs in (the module root). Default ".".
	ModuleDir string
	// MainPackage is the Go main package to build, as `go build` takes it. Default DefaultMainPackage.
	MainPackage string
	// Version is stamped into the binary (-X main.version) and the version label.
	Version string
	// Revision is the source control revision, for the revision label.
	Revision string
	// Source is the URL of the source repository, for the source label.
	Source string
	// Created is the fixed timestamp used for every file, the config and the created label,
	// so that the same inputs give the same digest (SOURCE_DATE_EPOCH style).
	Created time.Time
	// Platforms to build. Default linux/amd64 and linux/arm64.
	Platforms []v1.Platform
	// Ports the image exposes, as "port/proto". Default 8080/tcp (traffic) and 9090/tcp (admin).
	Ports []string
	// Base is the index the images are layered on; nil means scratch. Use PullBase to get
	// one pinned by digest.
	Base v1.ImageIndex
	// GoCommand is the go tool to run. Default "go".
	GoCommand string
}

// OptionError names the option that is wrong and how to fix it, so that callers (the CLI,
// the Pulumi program) can map Field onto their own flag or config key.
type OptionError struct {
	Field   string
	Problem string
	Fix     string
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("ociimage: Options.%s: %s; %s", e.Field, e.Problem, e.Fix)
}

// DefaultPlatforms are the node architectures the cluster may run: x86 and Graviton.
func DefaultPlatforms() []v1.Platform {
	return []v1.Platform{
		{OS: "linux", Architecture: "amd64"},
		{OS: "linux", Architecture: "arm64", Variant: "v8"},
	}
}

// DefaultPorts are the rate limiter's traffic and admin (metrics, probes) ports.
func DefaultPorts() []string { return []string{"8080/tcp", "9090/tcp"} }

// stampPattern keeps version and revision safe inside -ldflags and as label values.
var stampPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$`)

// located fills in where and with what the binary is built, and checks those exist.
func (o Options) located() (Options, error) {
	if o.ModuleDir == "" {
		o.ModuleDir = "."
	}
	if o.MainPackage == "" {
		o.MainPackage = DefaultMainPackage
	}
	if o.GoCommand == "" {
		o.GoCommand = "go"
	}
	if info, err := os.Stat(o.ModuleDir); err != nil || !info.IsDir() {
		return o, &OptionError{"ModuleDir", fmt.Sprintf("%q is not a directory", o.ModuleDir), "point it at the module root (the folder with go.mod)"}
	}
	if isLocalPath(o.MainPackage) {
		dir := filepath.Join(o.ModuleDir, o.MainPackage)
		if info, err := os.Stat(dir); err != nil || !info.IsDir() {
			return o, &OptionError{"MainPackage", fmt.Sprintf("no package directory %s", dir), "build the rate limiter's main package (" + DefaultMainPackage + ") or name an existing one"}
		}
	}
	return o, nil
}

// withDefaults returns a copy with defaults filled in, or the first invalid field.
func (o Options) withDefaults() (Options, error) {
	o, err := o.located()
	if err != nil {
		return o, err
	}
	if len(o.Platforms) == 0 {
		o.Platforms = DefaultPlatforms()
	}
	if len(o.Ports) == 0 {
		o.Ports = DefaultPorts()
	}
	if !stampPattern.MatchString(o.Version) {
		return o, &OptionError{"Version", fmt.Sprintf("%q is empty or has characters other than letters, digits and . _ + -", o.Version), "use a release version such as 1.4.0 or 0.0.0-3f2a9c1"}
	}
	if !stampPattern.MatchString(o.Revision) {
		return o, &OptionError{"Revision", fmt.Sprintf("%q is empty or has characters other than letters, digits and . _ + -", o.Revision), "use the git commit the image is built from"}
	}
	if u, err := url.Parse(o.Source); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return o, &OptionError{"Source", fmt.Sprintf("%q is not an http(s) URL", o.Source), "use the repository URL, e.g. https://github.com/stackauth-platform/infra"}
	}
	if o.Created.IsZero() || o.Created.Unix() < 0 {
		return o, &OptionError{"Created", "not set or before 1970", "use the commit time of Revision or SOURCE_DATE_EPOCH"}
	}
	o.Created = o.Created.UTC().Truncate(time.Second)

	platforms := make([]v1.Platform, len(o.Platforms))
	seen := map[string]bool{}
	for i, p := range o.Platforms {
		key := p.OS + "/" + p.Architecture
		if p.OS != "linux" || (p.Architecture != "amd64" && p.Architecture != "arm64") {
			return o, &OptionError{"Platforms", fmt.Sprintf("%s is not supported", p.String()), "use linux/amd64 and/or linux/arm64"}
		}
		if seen[key] {
			return o, &OptionError{"Platforms", fmt.Sprintf("%s is listed twice", key), "list each platform once"}
		}
		seen[key] = true
		if p.Architecture == "arm64" && p.Variant == "" {
			p.Variant = "v8" // what registries and runtimes record for arm64 images
		}
		platforms[i] = p
	}
	o.Platforms = platforms
	for _, port := range o.Ports {
		if err := checkPort(port); err != nil {
			return o, &OptionError{"Ports", err.Error(), `write each as "port/tcp" or "port/udp", e.g. 8080/tcp`}
		}
	}
	return o, nil
}

func isLocalPath(pkg string) bool {
	return pkg == "." || strings.HasPrefix(pkg, "./") || strings.HasPrefix(pkg, "../") || filepath.IsAbs(pkg)
}

func checkPort(port string) error {
	number, proto, ok := strings.Cut(port, "/")
	n, err := strconv.Atoi(number)
	if !ok || err != nil || n < 1 || n > 65535 || (proto != "tcp" && proto != "udp") {
		return fmt.Errorf("%q is not a port/protocol pair", port)
	}
	return nil
}
