package chartrender

import (
	"strings"
	"testing"
)

func TestRenderSplitsObjectsWithReleaseAndValues(t *testing.T) {
	rendered, err := Render("testdata/demo", Release{Name: "rel", Namespace: "ns", KubeVersion: "1.35"}, map[string]any{"replicas": 3})
	if err != nil {
		t.Fatal(err)
	}
	docs, err := Documents(rendered)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 {
		t.Fatalf("got %d documents, want the 2 objects (partials, NOTES and comment-only documents skipped)", len(docs))
	}
	first := docs[0].Object
	meta := first["metadata"].(map[string]any)
	data := first["data"].(map[string]any)
	if meta["name"] != "rel-demo" || meta["namespace"] != "ns" {
		t.Errorf("metadata %v, want name rel-demo in namespace ns", meta)
	}
	// Values travel as JSON: 3 arrives as float64 and prints as 3.
	if data["replicas"] != "3" || data["kube"] != "35" {
		t.Errorf("data %v, want replicas 3 and Kubernetes minor 35", data)
	}
	if docs[0].Template != "demo/templates/objects.yaml" {
		t.Errorf("template %q", docs[0].Template)
	}
}

func TestRenderRefusesAKubeVersionTheChartExcludes(t *testing.T) {
	_, err := Render("testdata/demo", Release{Name: "rel", Namespace: "ns", KubeVersion: "1.29"}, nil)
	if err == nil || !strings.Contains(err.Error(), "requires Kubernetes >=1.30.0-0") {
		t.Fatalf("error %v, want the chart's kubeVersion constraint named", err)
	}
}

func TestDocumentsNameTheTemplateOfABadDocument(t *testing.T) {
	_, err := Documents(map[string]string{"c/templates/bad.yaml": "apiVersion: v1\nkind: [\n"})
	if err == nil || !strings.Contains(err.Error(), "c/templates/bad.yaml") {
		t.Fatalf("error %v, want one naming the template", err)
	}
	_, err = Documents(map[string]string{"c/templates/nokind.yaml": "metadata: {}\n"})
	if err == nil || !strings.Contains(err.Error(), "without apiVersion or kind") {
		t.Fatalf("error %v, want a missing kind named", err)
	}
}
