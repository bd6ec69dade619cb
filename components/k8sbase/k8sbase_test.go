package k8sbase

import (
	"strings"
	"testing"
)

func TestChartsMustBePinned(t *testing.T) {
	for _, tc := range []struct {
		chart Chart
		want  string
	}{
		{Chart{Name: "cert-manager", Version: "v1.21.2", Repo: "https://charts.jetstack.io"}, ""},
		{Chart{Name: "oci://docker.io/envoyproxy/gateway-helm", Version: "v1.9.1"}, ""},
		{Chart{Name: "cert-manager", Version: "", Repo: "https://charts.jetstack.io"}, "is not pinned"},
		{Chart{Name: "cert-manager", Version: "^1.21", Repo: "https://charts.jetstack.io"}, "is not pinned"},
		{Chart{Name: "cert-manager", Version: "latest", Repo: "https://charts.jetstack.io"}, "is not pinned"},
		{Chart{Name: "cert-manager", Version: "v1.21.2", Repo: "http://charts.jetstack.io"}, "not an https:// URL"},
		{Chart{Name: "oci://docker.io/envoyproxy/gateway-helm", Version: "v1.9.1", Repo: "https://x"}, "leave Repo empty"},
	} {
		err := tc.chart.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: got %v, want %q", tc.chart, err, tc.want)
		}
	}
}

func TestNameErrorsNameEachBadField(t *testing.T) {
	errs := NameErrors("edge", NameField{"Namespace", "ok-name"}, NameField{"ClassName", "Bad_Name"}, NameField{"Name", ""})
	if len(errs) != 2 || !strings.Contains(errs[0].Error(), "args.ClassName") || !strings.Contains(errs[1].Error(), "args.Name") {
		t.Errorf("got %v", errs)
	}
}

func TestReplicasKeepOneThroughDrainsInHA(t *testing.T) {
	if v := Replicas(false); v["replicaCount"] != 1 || v["podDisruptionBudget"] != nil {
		t.Errorf("single: %v", v)
	}
	v := Replicas(true)
	pdb, _ := v["podDisruptionBudget"].(map[string]any)
	if v["replicaCount"] != 2 || pdb["enabled"] != true || pdb["minAvailable"] != 1 {
		t.Errorf("HA: %v", v)
	}
}
