package delivery

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// repoRoot is the repository root seen from this package's directory, where go test runs.
const repoRoot = "../.."

// The five delivery workflows, by file name without extension.
var deliveryWorkflows = []string{"preview", "deploy", "drift", "load-testing", "security"}

// workflow is the part of a GitHub Actions workflow file these tests read. yaml.v3 keeps the key `on` a string
// (YAML 1.1 readers turn it into the boolean true).
type workflow struct {
	file        string
	Name        string          `yaml:"name"`
	On          yaml.Node       `yaml:"on"`
	Permissions yaml.Node       `yaml:"permissions"`
	Jobs        map[string]*job `yaml:"jobs"`
}

type job struct {
	Name        string    `yaml:"name"`
	If          string    `yaml:"if"`
	Needs       yaml.Node `yaml:"needs"`
	Environment yaml.Node `yaml:"environment"`
	Concurrency yaml.Node `yaml:"concurrency"`
	Permissions yaml.Node `yaml:"permissions"`
	Strategy    struct {
		Matrix map[string]yaml.Node `yaml:"matrix"`
	} `yaml:"strategy"`
	Env   map[string]string `yaml:"env"`
	Uses  string            `yaml:"uses"` // a job that calls a reusable workflow
	Steps []step            `yaml:"steps"`
}

type step struct {
	Name string            `yaml:"name"`
	ID   string            `yaml:"id"`
	If   string            `yaml:"if"`
	Uses string            `yaml:"uses"`
	Run  string            `yaml:"run"`
	With map[string]string `yaml:"with"`
	Env  map[string]string `yaml:"env"`
}

// compositeAction is a local action (action.yml) whose steps run inside the calling job.
type compositeAction struct {
	Runs struct {
		Using string `yaml:"using"`
		Steps []step `yaml:"steps"`
	} `yaml:"runs"`
}

// action returns the action a step uses without its ref ("pulumi/actions" for "pulumi/actions@v7").
func (s step) action() string {
	name, _, _ := strings.Cut(s.Uses, "@")
	return name
}

func (s step) label() string {
	switch {
	case s.Name != "":
		return s.Name
	case s.Uses != "":
		return s.Uses
	default:
		first, _, _ := strings.Cut(strings.TrimSpace(s.Run), "\n")
		return first
	}
}

func parseWorkflow(file string, data []byte) (*workflow, error) {
	var wf workflow
	if err := yaml.Unmarshal(data, &wf); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(wf.Jobs) == 0 {
		return nil, fmt.Errorf("%s: no jobs", file)
	}
	wf.file = file
	return &wf, nil
}

func loadWorkflow(t *testing.T, name string) *workflow {
	t.Helper()
	file := filepath.Join(repoRoot, ".github", "workflows", name+".yml")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("workflow %s: %v", name, err)
	}
	wf, err := parseWorkflow(file, data)
	if err != nil {
		t.Fatal(err)
	}
	return wf
}

// loadAllWorkflows returns every workflow file under .github/workflows by name.
func loadAllWorkflows(t *testing.T) map[string]*workflow {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, ".github", "workflows", "*.y*ml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no workflows under .github/workflows (%v)", err)
	}
	all := map[string]*workflow{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		wf, err := parseWorkflow(file, data)
		if err != nil {
			t.Fatal(err)
		}
		all[strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))] = wf
	}
	return all
}

// repoFiles reads files of the repository by their path relative to its root.
type repoFiles func(rel string) ([]byte, error)

func readRepoFile(rel string) ([]byte, error) {
	return os.ReadFile(filepath.Join(repoRoot, filepath.FromSlash(rel)))
}

// expandSteps returns a job's steps with every local composite action (uses: ./path) replaced by its own
// steps, recursively, since those run in the job with the job's token and credentials.
func expandSteps(steps []step, read repoFiles) ([]step, error) {
	var out []step
	for _, s := range steps {
		if !strings.HasPrefix(s.Uses, "./") {
			out = append(out, s)
			continue
		}
		dir := strings.TrimPrefix(strings.TrimSuffix(s.Uses, "/"), "./")
		data, err := read(dir + "/action.yml")
		if err != nil {
			return nil, fmt.Errorf("local action %s: %w", s.Uses, err)
		}
		var action compositeAction
		if err := yaml.Unmarshal(data, &action); err != nil {
			return nil, fmt.Errorf("local action %s: %w", s.Uses, err)
		}
		if action.Runs.Using != "composite" {
			return nil, fmt.Errorf("local action %s: runs.using is %q, want composite", s.Uses, action.Runs.Using)
		}
		inner, err := expandSteps(action.Runs.Steps, read)
		if err != nil {
			return nil, err
		}
		out = append(out, inner...)
	}
	return out, nil
}

func mustExpand(t *testing.T, j *job) []step {
	t.Helper()
	steps, err := expandSteps(j.Steps, readRepoFile)
	if err != nil {
		t.Fatal(err)
	}
	return steps
}

var repoScriptRef = regexp.MustCompile(`(?:^|[\s"'=])\.?/?((?:\.github/)?scripts/[A-Za-z0-9._/-]+\.sh)`)

// shellSources returns the shell a step runs: its run: text and the repository scripts that text calls, by
// name, recursively (a script that calls another script brings that one too).
func shellSources(s step, read repoFiles) (map[string]string, error) {
	sources := map[string]string{}
	if s.Run == "" {
		return sources, nil
	}
	pending := []struct{ name, text string }{{"run: " + s.label(), s.Run}}
	for len(pending) > 0 {
		current := pending[0]
		pending = pending[1:]
		sources[current.name] = current.text
		for _, match := range repoScriptRef.FindAllStringSubmatch(current.text, -1) {
			rel := match[1]
			if _, seen := sources[rel]; seen {
				continue
			}
			data, err := read(rel)
			if err != nil {
				return nil, fmt.Errorf("%s calls %s: %w", current.name, rel, err)
			}
			pending = append(pending, struct{ name, text string }{rel, string(data)})
		}
	}
	return sources, nil
}

// permissions decodes a permissions block. The string forms read-all and write-all are refused: they grant
// every scope.
func permissions(node yaml.Node) (map[string]string, error) {
	switch node.Kind {
	case 0:
		return nil, nil // absent
	case yaml.ScalarNode:
		return nil, fmt.Errorf("permissions %q grants every scope; list the scopes", node.Value)
	case yaml.MappingNode:
		perms := map[string]string{}
		if err := node.Decode(&perms); err != nil {
			return nil, err
		}
		return perms, nil
	default:
		return nil, fmt.Errorf("permissions: unexpected YAML at line %d", node.Line)
	}
}

// triggers decodes `on` into event name -> its settings node (zero Node when the event has none).
func triggers(node yaml.Node) (map[string]yaml.Node, error) {
	out := map[string]yaml.Node{}
	switch node.Kind {
	case yaml.ScalarNode:
		out[node.Value] = yaml.Node{}
	case yaml.SequenceNode:
		for _, event := range node.Content {
			out[event.Value] = yaml.Node{}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(node.Content); i += 2 {
			out[node.Content[i].Value] = *node.Content[i+1]
		}
	default:
		return nil, fmt.Errorf("on: unexpected YAML at line %d", node.Line)
	}
	return out, nil
}

func mustTriggers(t *testing.T, wf *workflow) map[string]yaml.Node {
	t.Helper()
	on, err := triggers(wf.On)
	if err != nil {
		t.Fatalf("%s: %v", wf.file, err)
	}
	return on
}

// cronSchedules returns the cron expressions of a workflow's schedule trigger, sorted.
func cronSchedules(on map[string]yaml.Node) ([]string, error) {
	node, ok := on["schedule"]
	if !ok {
		return nil, nil
	}
	var entries []struct {
		Cron string `yaml:"cron"`
	}
	if err := node.Decode(&entries); err != nil {
		return nil, fmt.Errorf("schedule: %w", err)
	}
	var crons []string
	for _, entry := range entries {
		crons = append(crons, entry.Cron)
	}
	sort.Strings(crons)
	return crons, nil
}

// stringList decodes a YAML scalar or sequence of scalars.
func stringList(node yaml.Node) []string {
	switch node.Kind {
	case yaml.ScalarNode:
		return []string{node.Value}
	case yaml.SequenceNode:
		var out []string
		for _, item := range node.Content {
			out = append(out, item.Value)
		}
		return out
	}
	return nil
}

// mapping decodes a YAML mapping of scalars; a scalar node becomes {"": value}.
func mapping(node yaml.Node) map[string]string {
	out := map[string]string{}
	switch node.Kind {
	case yaml.ScalarNode:
		out[""] = node.Value
	case yaml.MappingNode:
		for i := 0; i+1 < len(node.Content); i += 2 {
			out[node.Content[i].Value] = node.Content[i+1].Value
		}
	}
	return out
}

func TestDeliveryWorkflowsExistAndParse(t *testing.T) {
	all := loadAllWorkflows(t)
	for _, name := range deliveryWorkflows {
		wf, ok := all[name]
		if !ok {
			t.Errorf(".github/workflows/%s.yml is missing", name)
			continue
		}
		if wf.Name != name {
			t.Errorf("%s: name is %q, want %q (gh workflow run and badges use it)", wf.file, wf.Name, name)
		}
		for id, j := range wf.Jobs {
			if j.Uses == "" && len(j.Steps) == 0 {
				t.Errorf("%s: job %s has no steps", wf.file, id)
			}
		}
	}
}

func TestSchedulesAreTheAgreedOnes(t *testing.T) {
	want := map[string][]string{
		"load-testing": {"0 2 * * 0"}, // Sunday 02:00 UTC (the guide)
		"security":     {"0 3 * * *"}, // daily 03:00 UTC (the guide)
		"drift":        {"0 6 * * *"}, // daily 06:00 UTC, after both of the above
	}
	for name, wf := range loadAllWorkflows(t) {
		got, err := cronSchedules(mustTriggers(t, wf))
		if err != nil {
			t.Errorf("%s: %v", wf.file, err)
			continue
		}
		if !slices.Equal(got, want[name]) {
			t.Errorf("%s: schedules %q, want %q", wf.file, got, want[name])
		}
	}
	for _, name := range []string{"drift", "load-testing", "security"} {
		if _, ok := mustTriggers(t, loadWorkflow(t, name))["workflow_dispatch"]; !ok {
			t.Errorf("%s cannot be run on demand: add workflow_dispatch", name)
		}
	}
}
