package k8svalidate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The external-secrets release whose CRDs the tests check against (the one components/externalsecrets pins).
const (
	esoModule  = "github.com/external-secrets/external-secrets"
	esoVersion = "v1.3.2"
)

func externalSecretsCRD(t *testing.T) string {
	t.Helper()
	path, err := ModuleFile(esoModule, esoVersion, "config/crds/bases/external-secrets.io_externalsecrets.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func externalSecret() map[string]any {
	return map[string]any{
		"apiVersion": "external-secrets.io/v1",
		"kind":       "ExternalSecret",
		"metadata":   map[string]any{"name": "app", "namespace": "stack-auth-prod", "labels": map[string]any{"a": "b"}},
		"spec": map[string]any{
			"refreshInterval": "1h",
			"secretStoreRef":  map[string]any{"kind": "SecretStore", "name": "aws"},
			"target":          map[string]any{"name": "app", "creationPolicy": "Owner"},
			"dataFrom":        []any{map[string]any{"extract": map[string]any{"key": "stackauth/prod/app"}}},
		},
	}
}

func TestValidateAgainstCRDAcceptsAValidObject(t *testing.T) {
	if err := ValidateAgainstCRD(externalSecretsCRD(t), externalSecret()); err != nil {
		t.Fatal(err)
	}
}

func TestValidateAgainstCRDRefusesWhatTheAPIServerWould(t *testing.T) {
	crd := externalSecretsCRD(t)
	for _, tc := range []struct {
		name   string
		change func(o map[string]any)
		want   string
	}{
		{"unknown spec field", func(o map[string]any) { spec(o)["refreshIntervall"] = "1h" }, "spec.refreshIntervall: unknown field"},
		{"unknown nested field", func(o map[string]any) {
			spec(o)["target"].(map[string]any)["owner"] = "me"
		}, "spec.target.owner: unknown field"},
		{"unknown metadata field", func(o map[string]any) { o["metadata"].(map[string]any)["label"] = "x" }, "metadata.label: unknown field"},
		{"wrong type", func(o map[string]any) { spec(o)["refreshInterval"] = 3600 }, "spec.refreshInterval: Invalid value"},
		{"enum", func(o map[string]any) { spec(o)["target"].(map[string]any)["creationPolicy"] = "Always" }, `spec.target.creationPolicy: Unsupported value: "Always"`},
		{"unserved version", func(o map[string]any) { o["apiVersion"] = "external-secrets.io/v1beta1" }, `does not serve version "v1beta1"`},
		{"unknown version", func(o map[string]any) { o["apiVersion"] = "external-secrets.io/v2" }, `no schema for version "v2"`},
		{"other kind", func(o map[string]any) { o["kind"] = "ExternalSecrets" }, "no CRD for external-secrets.io ExternalSecrets"},
		{"namespace missing", func(o map[string]any) { delete(o["metadata"].(map[string]any), "namespace") }, "metadata.namespace: Required value"},
		{"bad name", func(o map[string]any) { o["metadata"].(map[string]any)["name"] = "App_1" }, "metadata.name: Invalid value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := externalSecret()
			tc.change(o)
			err := ValidateAgainstCRD(crd, o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestValidateAgainstCRDLeavesTheObjectAlone(t *testing.T) {
	o := externalSecret()
	spec(o)["unknownField"] = true
	_ = ValidateAgainstCRD(externalSecretsCRD(t), o)
	if spec(o)["unknownField"] != true {
		t.Fatal("validation pruned the caller's object")
	}
}

// writeCRD writes a one-version CRD of group example.com whose spec has the given schema (YAML indented for its
// place), after a comment-only document as generated bundles have.
func writeCRD(t *testing.T, kind, scope, specSchema string) string {
	t.Helper()
	plural := strings.ToLower(kind) + "s"
	crd := `# generated
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ` + plural + `.example.com
spec:
  group: example.com
  names: {kind: ` + kind + `, listKind: ` + kind + `List, plural: ` + plural + `, singular: ` + strings.ToLower(kind) + `}
  scope: ` + scope + `
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          apiVersion: {type: string}
          kind: {type: string}
          metadata: {type: object}
          spec:
` + specSchema
	path := filepath.Join(t.TempDir(), "crd.yaml")
	if err := os.WriteFile(path, []byte(crd), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestValidateAgainstCRDRunsCELRulesAndChecksScope(t *testing.T) {
	// One x-kubernetes-validations rule, so the test shows CEL rules run as on the API server.
	path := writeCRD(t, "Widget", "Cluster", `            type: object
            x-kubernetes-validations:
            - rule: self.min <= self.max
              message: min must not exceed max
            properties:
              min: {type: integer}
              max: {type: integer}
`)
	widget := func(min, max int, namespace string) map[string]any {
		meta := map[string]any{"name": "w"}
		if namespace != "" {
			meta["namespace"] = namespace
		}
		return map[string]any{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": meta,
			"spec": map[string]any{"min": min, "max": max}}
	}
	if err := ValidateAgainstCRD(path, widget(1, 2, "")); err != nil {
		t.Fatalf("valid widget: %v", err)
	}
	if err := ValidateAgainstCRD(path, widget(3, 2, "")); err == nil || !strings.Contains(err.Error(), "min must not exceed max") {
		t.Fatalf("CEL rule: got %v", err)
	}
	if err := ValidateAgainstCRD(path, widget(1, 2, "default")); err == nil || !strings.Contains(err.Error(), "cluster-scoped") {
		t.Fatalf("cluster scope: got %v", err)
	}
}

func spec(o map[string]any) map[string]any { return o["spec"].(map[string]any) }

func TestValidateAgainstCRDAppliesDefaultsBeforeRules(t *testing.T) {
	// The rule reads a field only the schema's default provides, as Gateway API's HTTPRoute rules do.
	path := writeCRD(t, "Route", "Namespaced", `            type: object
            x-kubernetes-validations:
            - rule: size(self.paths) > 0
              message: at least one path
            properties:
              paths:
                type: array
                default: ["/"]
                items: {type: string}
`)
	route := func(spec map[string]any) map[string]any {
		return map[string]any{"apiVersion": "example.com/v1", "kind": "Route",
			"metadata": map[string]any{"name": "r", "namespace": "n"}, "spec": spec}
	}
	if err := ValidateAgainstCRD(path, route(map[string]any{})); err != nil {
		t.Fatalf("a route relying on the default: %v", err)
	}
	if err := ValidateAgainstCRD(path, route(map[string]any{"paths": []any{}})); err == nil || !strings.Contains(err.Error(), "at least one path") {
		t.Fatalf("an explicit empty list: got %v", err)
	}
}
