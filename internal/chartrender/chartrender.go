// Package chartrender renders a local Helm chart offline, the way a Pulumi
// helm/v3 Release installs it, and splits the result into objects. The
// posture policies render the releases of a plan with it; chart tests use it
// to check templates.
package chartrender

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	"sigs.k8s.io/yaml"
)

// Release says how the chart is installed.
type Release struct {
	Name      string
	Namespace string
	// KubeVersion is the cluster's Kubernetes version ("1.35"); empty means
	// Helm's default.
	KubeVersion string
}

// IsChart reports whether dir holds a chart (a Chart.yaml).
func IsChart(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "Chart.yaml"))
	return err == nil
}

// Render renders every template of the chart in dir, hooks included, with
// values as a Release passes them: through JSON, so numbers arrive as
// float64. It returns the rendered text by template path.
func Render(dir string, rel Release, values map[string]any) (map[string]string, error) {
	chrt, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", dir, err)
	}
	wire, err := json.Marshal(values)
	if err != nil {
		return nil, fmt.Errorf("chart %s: values: %w", dir, err)
	}
	var onWire map[string]any
	if err := json.Unmarshal(wire, &onWire); err != nil {
		return nil, fmt.Errorf("chart %s: values: %w", dir, err)
	}
	caps := common.DefaultCapabilities.Copy()
	if rel.KubeVersion != "" {
		kv, err := common.ParseKubeVersion(rel.KubeVersion)
		if err != nil {
			return nil, fmt.Errorf("chart %s: Kubernetes version %q: %w", dir, rel.KubeVersion, err)
		}
		caps.KubeVersion = *kv
	}
	// Helm refuses the install on a cluster the chart excludes; so does this.
	if c := chrt.Metadata.KubeVersion; c != "" && !chartutil.IsCompatibleRange(c, caps.KubeVersion.String()) {
		return nil, fmt.Errorf("chart %s requires Kubernetes %s, the cluster runs %s", dir, c, caps.KubeVersion.String())
	}
	top, err := util.ToRenderValues(chrt, onWire, common.ReleaseOptions{
		Name: rel.Name, Namespace: rel.Namespace, IsInstall: true, Revision: 1,
	}, caps)
	if err != nil {
		return nil, fmt.Errorf("chart %s: %w", dir, err)
	}
	out, err := engine.Render(chrt, top)
	if err != nil {
		return nil, fmt.Errorf("chart %s: %w", dir, err)
	}
	return out, nil
}

// Document is one rendered object.
type Document struct {
	// Template is the template path it came from.
	Template string
	// YAML is the document's text.
	YAML []byte
	// Object is the document decoded into plain JSON values.
	Object map[string]any
}

var documentSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// Documents splits rendered templates into their objects, in template path
// order. Partials (files starting with "_") and documents holding only
// comments are skipped; text that is not YAML, or a document that is not an
// object with apiVersion and kind, is an error naming the template.
func Documents(rendered map[string]string) ([]Document, error) {
	paths := make([]string, 0, len(rendered))
	for p := range rendered {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var out []Document
	for _, path := range paths {
		if strings.HasPrefix(filepath.Base(path), "_") || strings.HasSuffix(path, "NOTES.txt") {
			continue
		}
		for _, text := range documentSeparator.Split(rendered[path], -1) {
			var obj map[string]any
			if err := yaml.Unmarshal([]byte(text), &obj); err != nil {
				return nil, fmt.Errorf("%s: not a YAML object: %w", path, err)
			}
			if obj == nil {
				continue
			}
			if obj["apiVersion"] == nil || obj["kind"] == nil {
				return nil, fmt.Errorf("%s: a document without apiVersion or kind", path)
			}
			out = append(out, Document{Template: path, YAML: []byte(text), Object: obj})
		}
	}
	return out, nil
}
