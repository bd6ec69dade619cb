// Package plan runs the real program against a stack's real config file under
// Pulumi's mock engine, with no cloud and no CLI, and records every resource
// the program registers. cmd/plan prints it; the tests assert on it.
package plan

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"sigs.k8s.io/yaml"

	"github.com/stackauth-platform/infra/config"
)

// Markers stand in for values a preview cannot show.
const (
	Secret  = "[secret]"
	Unknown = "[unknown]"
)

// Resource is one registered resource, shaped like `pulumi preview --json`.
type Resource struct {
	URN       string         `json:"urn"`
	Type      string         `json:"type"`
	Name      string         `json:"name"`
	Parent    string         `json:"parent,omitempty"`
	Provider  string         `json:"provider,omitempty"`
	Protect   bool           `json:"protect"`
	DependsOn []string       `json:"dependsOn"`
	Inputs    map[string]any `json:"inputs"`
	// Custom is false for component resources.
	Custom bool `json:"-"`
	// PropertyDependencies maps each input to the URNs it was computed from.
	PropertyDependencies map[string][]string `json:"-"`
	// AdditionalSecretOutputs are outputs the program asked to be secret.
	AdditionalSecretOutputs []string `json:"-"`
	// IgnoreChanges lists the inputs Pulumi leaves to other managers.
	IgnoreChanges []string `json:"-"`
}

// Plan is what a stack would create.
type Plan struct {
	Stack     string         `json:"stack"`
	Resources []Resource     `json:"resources"`
	Outputs   map[string]any `json:"outputs"`
	// Config is the stack's config (full keys) without the secret ones, so
	// policies can ask what kind of stack this is (production, allowed CIDRs).
	Config map[string]string `json:"-"`
}

// Options select the stack and how to run it.
type Options struct {
	Stack string
	// Dir is the project directory holding Pulumi.yaml (default ".").
	Dir string
	// Preview runs as a first `pulumi preview` does: outputs of resources not
	// yet created are unknown. Without it, mocks invent plausible outputs,
	// as after an `up`, so tests can follow values end to end.
	Preview bool
	// Set overrides or adds config values (full keys), as `pulumi config set`.
	Set map[string]string
	// SetSecret does the same for secret values.
	SetSecret map[string]string
	// Program replaces the program under test (tests of single components).
	Program func(ctx *pulumi.Context) (map[string]pulumi.Output, error)
	// RevealSecrets records secret inputs in clear instead of as Secret, for
	// tests of how secret values are composed (connection strings). Never for
	// output that a person or CI log sees.
	RevealSecrets bool
}

// Run evaluates the program for the stack and returns its plan. Invalid config
// returns the program's validation error, with the plan of whatever had been
// registered before it (nothing, when config is checked first).
func Run(opts Options, program func(ctx *pulumi.Context) (map[string]pulumi.Output, error)) (*Plan, error) {
	if opts.Dir == "" {
		opts.Dir = "."
	}
	if opts.Program != nil {
		program = opts.Program
	}
	cfg, secretKeys, err := LoadConfig(opts.Dir, opts.Stack)
	if err != nil {
		return nil, err
	}
	for k, v := range opts.Set {
		cfg[k] = v
	}
	for k, v := range opts.SetSecret {
		cfg[k] = v
		secretKeys = append(secretKeys, k)
	}
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	if err := config.CheckKeys(opts.Stack, keys); err != nil {
		return nil, err
	}

	// The CLI runs a program in its project directory, so relative paths in it (charts/stack-backend) resolve
	// there; the plan does the same, one run at a time since the working directory is the process's.
	leave, err := enterProjectDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	defer leave()

	m := &mocks{preview: opts.Preview, reveal: opts.RevealSecrets, region: cfg[config.FullKey("region")]}
	outputs := map[string]any{}
	err = pulumi.RunErr(func(ctx *pulumi.Context) error {
		outs, err := program(ctx)
		if err != nil {
			return err
		}
		for k, o := range outs {
			ctx.Export(k, o)
			r, err := internals.UnsafeAwaitOutput(ctx.Context(), o)
			if err != nil {
				return fmt.Errorf("output %s: %w", k, err)
			}
			switch {
			case r.Secret:
				outputs[k] = Secret
			case !r.Known:
				outputs[k] = Unknown
			default:
				outputs[k] = r.Value
			}
		}
		return nil
	}, pulumi.WithMocks(config.Namespace, opts.Stack, m), wrapMonitor(m), func(info *pulumi.RunInfo) {
		info.Config = cfg
		info.ConfigSecretKeys = secretKeys
		info.DryRun = opts.Preview
	})
	// On error the plan still says what was registered before it.
	p := &Plan{Stack: opts.Stack, Resources: m.recorded(), Outputs: outputs, Config: withoutSecrets(cfg, secretKeys)}
	if err != nil {
		return p, unwrap(err)
	}
	return p, nil
}

// withoutSecrets copies the config minus the keys set as secrets and the keys
// the schema declares secret (a secret set in clear is refused by config.Load,
// but must not reach the plan either).
func withoutSecrets(cfg map[string]string, secretKeys []string) map[string]string {
	drop := map[string]bool{}
	for _, k := range secretKeys {
		drop[k] = true
	}
	for _, f := range config.Fields {
		if f.Secret {
			drop[config.FullKey(f.Key)] = true
		}
	}
	out := map[string]string{}
	for k, v := range cfg {
		if !drop[k] {
			out[k] = v
		}
	}
	return out
}

var projectDirMu sync.Mutex

// enterProjectDir makes dir the working directory until the returned function restores the previous one.
func enterProjectDir(dir string) (func(), error) {
	projectDirMu.Lock()
	previous, err := os.Getwd()
	if err == nil {
		err = os.Chdir(dir)
	}
	if err != nil {
		projectDirMu.Unlock()
		return nil, fmt.Errorf("entering the project directory %s: %w", dir, err)
	}
	return func() {
		_ = os.Chdir(previous)
		projectDirMu.Unlock()
	}, nil
}

// unwrap drops the engine's wrapping so a validation message reads cleanly.
func unwrap(err error) error {
	var cfgErr *config.Error
	if errors.As(err, &cfgErr) {
		return cfgErr
	}
	return err
}

// LoadConfig merges the defaults of Pulumi.yaml's config schema with the
// stack file, as the CLI does, into the engine's flat key/value form. Values
// the stack file holds encrypted (secure:) cannot be read here; they become a
// placeholder that is still marked secret.
func LoadConfig(dir, stack string) (map[string]string, []string, error) {
	var project struct {
		Name   string `json:"name"`
		Config map[string]struct {
			Default any `json:"default"`
		} `json:"config"`
	}
	if err := readYAML(filepath.Join(dir, "Pulumi.yaml"), &project); err != nil {
		return nil, nil, err
	}
	var stackFile struct {
		Config map[string]any `json:"config"`
	}
	stackPath := filepath.Join(dir, "Pulumi."+stack+".yaml")
	if err := readYAML(stackPath, &stackFile); err != nil {
		return nil, nil, fmt.Errorf("stack %q: %w (stacks are the Pulumi.<stack>.yaml files next to Pulumi.yaml)", stack, err)
	}

	cfg := map[string]string{}
	var secretKeys []string
	for k, v := range project.Config {
		if v.Default != nil {
			s, err := flatten(v.Default)
			if err != nil {
				return nil, nil, fmt.Errorf("Pulumi.yaml config %s: %w", k, err)
			}
			cfg[project.Name+":"+k] = s
		}
	}
	for k, v := range stackFile.Config {
		if !strings.Contains(k, ":") {
			k = project.Name + ":" + k
		}
		if m, ok := v.(map[string]any); ok && len(m) == 1 && m["secure"] != nil {
			cfg[k] = "offline-plan-placeholder"
			secretKeys = append(secretKeys, k)
			continue
		}
		s, err := flatten(v)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %s: %w", stackPath, k, err)
		}
		cfg[k] = s
	}
	return cfg, secretKeys, nil
}

func readYAML(path string, into any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// flatten renders a config value as the engine passes it to programs:
// strings as they are, everything else as JSON.
func flatten(v any) (string, error) {
	if s, ok := v.(string); ok {
		return s, nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// JSON renders the plan for `--json`.
func (p *Plan) JSON() ([]byte, error) { return json.MarshalIndent(p, "", "  ") }

// ByType returns the resources of one type token, in registration order.
func (p *Plan) ByType(typ string) []Resource {
	var out []Resource
	for _, r := range p.Resources {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// Find returns the resource of a type and name.
func (p *Plan) Find(typ, name string) (Resource, bool) {
	for _, r := range p.Resources {
		if r.Type == typ && r.Name == name {
			return r, true
		}
	}
	return Resource{}, false
}

// ByURN returns the resource with that URN.
func (p *Plan) ByURN(urn string) (Resource, bool) {
	for _, r := range p.Resources {
		if r.URN == urn {
			return r, true
		}
	}
	return Resource{}, false
}

// Tree renders the resources as an indented parent/child tree.
func (p *Plan) Tree() string {
	children := map[string][]Resource{}
	for _, r := range p.Resources {
		children[r.Parent] = append(children[r.Parent], r)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "stack %s: %d resources\n", p.Stack, len(p.Resources))
	var walk func(parent string, depth int)
	walk = func(parent string, depth int) {
		for _, r := range children[parent] {
			flags := ""
			if r.Protect {
				flags = " [protected]"
			}
			fmt.Fprintf(&b, "%s+ %s %s%s\n", strings.Repeat("  ", depth), r.Type, r.Name, flags)
			walk(r.URN, depth+1)
		}
	}
	roots := map[string]bool{}
	for _, r := range p.Resources {
		if _, ok := p.ByURN(r.Parent); !ok {
			roots[r.Parent] = true
		}
	}
	var rootList []string
	for r := range roots {
		rootList = append(rootList, r)
	}
	sort.Strings(rootList)
	for _, r := range rootList {
		walk(r, 0)
	}
	if len(p.Outputs) > 0 {
		b.WriteString("outputs:\n")
		var keys []string
		for k := range p.Outputs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "  %s: %v\n", k, p.Outputs[k])
		}
	}
	return b.String()
}

// mocks records registrations and answers them as the engine would.
type mocks struct {
	preview bool
	reveal  bool
	region  string

	mu        sync.Mutex
	resources []Resource
}

func (m *mocks) recorded() []Resource {
	m.mu.Lock()
	defer m.mu.Unlock()
	// Registration order depends on goroutine scheduling; URN order makes
	// two plans of the same program diff cleanly.
	out := append([]Resource(nil), m.resources...)
	sort.Slice(out, func(i, j int) bool { return out[i].URN < out[j].URN })
	return out
}

func (m *mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	if !args.Custom {
		return "", resource.PropertyMap{}, nil
	}
	if m.preview {
		// A first preview knows only what the program passed in.
		return "", args.Inputs, nil
	}
	id := args.Name + "-id"
	return id, withOutputs(args.TypeToken, args.Name, id, m.region, args.Inputs), nil
}

// record keeps a registration as the program sent it, before the mock
// monitor sees it.
func (m *mocks) record(in *pulumirpc.RegisterResourceRequest, inputs resource.PropertyMap) {
	r := Resource{
		URN:                     urnOf(in.GetParent(), in.GetType(), in.GetName()),
		Type:                    in.GetType(),
		Name:                    in.GetName(),
		Parent:                  in.GetParent(),
		Custom:                  in.GetCustom(),
		Protect:                 in.GetProtect(),
		DependsOn:               append([]string{}, in.GetDependencies()...),
		Inputs:                  map[string]any{},
		PropertyDependencies:    map[string][]string{},
		AdditionalSecretOutputs: in.GetAdditionalSecretOutputs(),
		IgnoreChanges:           in.GetIgnoreChanges(),
	}
	// A provider reference is "<urn>::<id>"; the URN says which one.
	if ref := in.GetProvider(); ref != "" {
		r.Provider = ref[:strings.LastIndex(ref, "::")]
	}
	for k, deps := range in.GetPropertyDependencies() {
		r.PropertyDependencies[k] = deps.GetUrns()
	}
	for k, v := range inputs {
		if m.reveal {
			v = revealed(v)
		}
		r.Inputs[string(k)] = Render(v)
	}
	m.mu.Lock()
	m.resources = append(m.resources, r)
	m.mu.Unlock()
}

// revealed strips the secret marks from a value and everything inside it.
func revealed(v resource.PropertyValue) resource.PropertyValue {
	switch {
	case v.IsSecret():
		return revealed(v.SecretValue().Element)
	case v.IsOutput():
		o := v.OutputValue()
		o.Secret = false
		o.Element = revealed(o.Element)
		return resource.NewOutputProperty(o)
	case v.IsArray():
		out := make([]resource.PropertyValue, len(v.ArrayValue()))
		for i, e := range v.ArrayValue() {
			out[i] = revealed(e)
		}
		return resource.NewArrayProperty(out)
	case v.IsObject():
		out := resource.PropertyMap{}
		for k, e := range v.ObjectValue() {
			out[k] = revealed(e)
		}
		return resource.NewObjectProperty(out)
	}
	return v
}

// urnOf builds the URN the mock monitor gives a resource; the parent's URN
// carries the type chain.
func urnOf(parent, typ, name string) string {
	if parent == "" {
		return ""
	}
	p := resource.URN(parent)
	qualified := string(p.QualifiedType())
	if p.QualifiedType() == "pulumi:pulumi:Stack" {
		qualified = ""
	}
	if qualified != "" {
		qualified += "$"
	}
	return fmt.Sprintf("urn:pulumi:%s::%s::%s%s::%s", p.Stack(), p.Project(), qualified, typ, name)
}

// Render turns an engine property value into plain JSON values, with secrets
// and unknowns replaced by their markers.
func Render(v resource.PropertyValue) any {
	switch {
	case v.IsSecret():
		return Secret
	case v.IsComputed():
		return Unknown
	case v.IsOutput():
		o := v.OutputValue()
		if o.Secret {
			return Secret
		}
		if !o.Known {
			return Unknown
		}
		return Render(o.Element)
	case v.IsNull():
		return nil
	case v.IsBool():
		return v.BoolValue()
	case v.IsNumber():
		return v.NumberValue()
	case v.IsString():
		return v.StringValue()
	case v.IsArray():
		out := []any{}
		for _, e := range v.ArrayValue() {
			out = append(out, Render(e))
		}
		return out
	case v.IsObject():
		out := map[string]any{}
		for k, e := range v.ObjectValue() {
			out[string(k)] = Render(e)
		}
		return out
	case v.IsResourceReference():
		return string(v.ResourceReferenceValue().URN)
	case v.IsAsset():
		return v.AssetValue().Path
	case v.IsArchive():
		return v.ArchiveValue().Path
	}
	return fmt.Sprint(v.V)
}
