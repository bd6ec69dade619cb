package delivery

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var configReference = regexp.MustCompile(`\b(vars|secrets)\.([A-Za-z_][A-Za-z0-9_]*)`)

// readmeSection returns the text of a `## ` section of README.md.
func readmeSection(t *testing.T, heading string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	start := strings.Index(text, "\n## "+heading+"\n")
	if start < 0 {
		t.Fatalf("README.md has no %q section", "## "+heading)
	}
	section := text[start+1:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	return section
}

// Every variable and secret a workflow reads is documented in README "Delivery", and the variables are exactly
// the ones actionlint is told about, so a new one cannot slip in undocumented.
func TestWorkflowSettingsAreDocumented(t *testing.T) {
	delivery := readmeSection(t, "Delivery")
	used := map[string][]string{}
	files, _ := filepath.Glob(filepath.Join(repoRoot, ".github", "workflows", "*.yml"))
	actions, _ := filepath.Glob(filepath.Join(repoRoot, ".github", "actions", "*", "action.yml"))
	for _, file := range append(files, actions...) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, match := range configReference.FindAllStringSubmatch(string(data), -1) {
			if match[1] == "secrets" && match[2] == "GITHUB_TOKEN" {
				continue
			}
			used[match[1]] = append(used[match[1]], match[2])
		}
	}
	if len(used["vars"]) == 0 || len(used["secrets"]) == 0 {
		t.Fatalf("found no vars or secrets in the workflows (%v); the pattern is broken", used)
	}
	for kind, names := range used {
		for _, name := range names {
			if !strings.Contains(delivery, "`"+name+"`") {
				t.Errorf("%s.%s is used by a workflow but not documented in README \"Delivery\"", kind, name)
			}
		}
	}

	data, err := os.ReadFile(filepath.Join(repoRoot, ".github", "actionlint.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var config struct {
		ConfigVariables []string `yaml:"config-variables"`
	}
	if err := yaml.Unmarshal(data, &config); err != nil {
		t.Fatal(err)
	}
	vars := slices.Compact(slices.Sorted(slices.Values(used["vars"])))
	if !slices.Equal(vars, slices.Sorted(slices.Values(config.ConfigVariables))) {
		t.Errorf("variables used %q, but .github/actionlint.yaml lists %q", vars, config.ConfigVariables)
	}
}

func TestRunbookCoversTheGuidesTroubles(t *testing.T) {
	runbook := readmeSection(t, "Runbook")
	for _, heading := range []string{
		"Pods not starting", "Database connections", "High memory usage", "Rate limiting not working",
		"Edge and certificates", "Upgrades", "Rollback", "Rotating secrets",
	} {
		if !strings.Contains(runbook, "\n### "+heading+"\n") {
			t.Errorf("README Runbook has no %q subsection", heading)
		}
	}
}
