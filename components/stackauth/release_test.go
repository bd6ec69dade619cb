package stackauth

import (
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// recordingMocks answers the mock engine and keeps every registered resource.
type recordingMocks struct {
	mu        sync.Mutex
	resources []pulumi.MockResourceArgs
}

func (m *recordingMocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.resources = append(m.resources, args)
	return args.Name + "-id", args.Inputs, nil
}

func (m *recordingMocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return args.Args, nil
}

func (m *recordingMocks) byType(typ string) []pulumi.MockResourceArgs {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []pulumi.MockResourceArgs
	for _, r := range m.resources {
		if r.TypeToken == typ {
			out = append(out, r)
		}
	}
	return out
}

// externalSecret stands in for the ExternalSecret the release must wait for.
type externalSecret struct {
	pulumi.CustomResourceState
}

func TestNewReleaseRegistersAtomicHelmRelease(t *testing.T) {
	t.Chdir(repoRoot(t)) // the plan runs from the repo root, where the default ChartDir resolves
	mocks := &recordingMocks{}
	var secretURN, componentURN string
	outputs := map[string]any{}

	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		es := &externalSecret{}
		if err := ctx.RegisterResource("kubernetes:external-secrets.io/v1:ExternalSecret", "stack-backend-secrets", nil, es); err != nil {
			return err
		}
		args := prodArgs()
		args.DependsOn = []pulumi.Resource{es}
		rel, err := NewRelease(ctx, "stack-auth", args)
		if err != nil {
			return err
		}
		// Wait inside the program for the outputs to resolve; RunErr does not wait for applies nobody consumes.
		var wg sync.WaitGroup
		wg.Add(1)
		pulumi.All(es.URN(), rel.URN(), rel.ServiceName, rel.APIPort, rel.DashboardPort, rel.APIServiceURL,
			rel.Namespace, rel.ServerPodLabels).ApplyT(func(v []any) error {
			defer wg.Done()
			secretURN, componentURN = string(v[0].(pulumi.URN)), string(v[1].(pulumi.URN))
			for i, key := range []string{"serviceName", "apiPort", "dashboardPort", "apiServiceUrl", "namespace", "serverPodLabels"} {
				outputs[key] = v[i+2]
			}
			return nil
		})
		wg.Wait()
		return nil
	}, pulumi.WithMocks("infra", "prod", mocks))
	if err != nil {
		t.Fatalf("program failed: %v", err)
	}

	releases := mocks.byType("kubernetes:helm.sh/v3:Release")
	if len(releases) != 1 {
		t.Fatalf("registered %d helm/v3 Releases, want 1", len(releases))
	}
	rel := releases[0]
	in := rel.Inputs
	checks := map[string]any{
		"chart":         DefaultChartDir,
		"name":          DefaultReleaseName,
		"namespace":     "stack-auth-prod",
		"atomic":        true,
		"cleanupOnFail": true,
		"timeout":       float64(DefaultTimeoutSeconds),
		"maxHistory":    float64(DefaultHistoryMax),
	}
	for key, want := range checks {
		if got := in[resource.PropertyKey(key)].Mappable(); got != want {
			t.Errorf("Release input %s = %#v, want %#v", key, got, want)
		}
	}

	// The values the engine received are exactly what ChartValues computes (compared as JSON, the wire form).
	want, err := ChartValues(prodArgs())
	if err != nil {
		t.Fatal(err)
	}
	if got, wantJSON := asJSON(t, in["values"].Mappable()), asJSON(t, want); !reflect.DeepEqual(got, wantJSON) {
		t.Errorf("Release values\n got %v\nwant %v", got, wantJSON)
	}
	if found := secretFindings("values", in["values"].Mappable()); len(found) > 0 {
		t.Errorf("Release values hold secret-looking entries: %v", found)
	}

	if rel.RegisterRPC == nil {
		t.Fatal("mock engine gave no RegisterRPC")
	}
	if !containsString(rel.RegisterRPC.GetDependencies(), secretURN) {
		t.Errorf("Release dependencies %v lack the ExternalSecret %s", rel.RegisterRPC.GetDependencies(), secretURN)
	}
	if rel.RegisterRPC.GetParent() != componentURN || !strings.Contains(componentURN, "stackauth:app:Release") {
		t.Errorf("Release parent %q, want the component %q", rel.RegisterRPC.GetParent(), componentURN)
	}

	wantOutputs := map[string]any{
		"serviceName":   "stack-backend",
		"apiPort":       APIPort,
		"dashboardPort": DashboardPort,
		"apiServiceUrl": "http://stack-backend.stack-auth-prod.svc:8102",
		"namespace":     "stack-auth-prod",
	}
	for key, want := range wantOutputs {
		if outputs[key] != want {
			t.Errorf("output %s = %#v, want %#v", key, outputs[key], want)
		}
	}
	if got := outputs["serverPodLabels"]; !reflect.DeepEqual(got, ServerPodLabels("stack-backend")) {
		t.Errorf("output serverPodLabels = %#v", got)
	}
}

func TestNewReleaseRefusesBadArgsBeforeRegistering(t *testing.T) {
	t.Chdir(repoRoot(t))
	for _, c := range []struct {
		what   string
		modify func(a *Args)
		want   string
	}{
		{"latest image", func(a *Args) { a.Image.Tag = "latest" }, "args.Image.Tag"},
		{"missing chart", func(a *Args) { a.ChartDir = "charts/no-such-chart" }, "args.ChartDir \"charts/no-such-chart\" has no Chart.yaml"},
	} {
		mocks := &recordingMocks{}
		err := pulumi.RunErr(func(ctx *pulumi.Context) error {
			a := prodArgs()
			c.modify(&a)
			_, err := NewRelease(ctx, "stack-auth", a)
			return err
		}, pulumi.WithMocks("infra", "prod", mocks))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.what, err, c.want)
		}
		if n := len(mocks.byType("kubernetes:helm.sh/v3:Release")); n != 0 {
			t.Errorf("%s: registered %d Releases despite the error", c.what, n)
		}
	}
}

func asJSON(t *testing.T, v any) any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
