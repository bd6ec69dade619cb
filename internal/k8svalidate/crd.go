package k8svalidate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"
)

// ValidateAgainstCRD checks obj (a whole custom resource: apiVersion, kind, metadata, spec, ...) the way the API
// server checks a create request with strict field validation: against the structural schema of the version it
// names in the CustomResourceDefinition found in crdFile (a YAML file holding one or more CRDs), after applying the
// schema's defaults as the server does. It fails on an unknown field anywhere (the server would prune it, or refuse
// it under strict validation), on a wrong type, on a broken enum/pattern/required rule, on a failing
// x-kubernetes-validations (CEL) rule, on a version the CRD does not serve, and on a namespace that does not fit
// the CRD's scope.
func ValidateAgainstCRD(crdFile string, obj map[string]any) error {
	crds, err := readCRDs(crdFile)
	if err != nil {
		return err
	}
	return validateWith(crdFile, crds, obj)
}

func validateWith(source string, crds []apiextensionsv1.CustomResourceDefinition, obj map[string]any) error {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil || apiVersion == "" || kind == "" {
		return fmt.Errorf("object has apiVersion %q and kind %q: both must be set, like external-secrets.io/v1 and ExternalSecret", apiVersion, kind)
	}
	crd, defined := findCRD(crds, gv.Group, kind)
	if crd == nil {
		return fmt.Errorf("%s: no CRD for %s %s (it defines %s)", source, gv.Group, kind, strings.Join(defined, ", "))
	}
	version, served := findVersion(crd, gv.Version)
	if version == nil || version.Schema == nil || version.Schema.OpenAPIV3Schema == nil {
		return fmt.Errorf("%s: CRD %s has no schema for version %q (versions with schemas that it serves: %s)", source, crd.Name, gv.Version, strings.Join(served, ", "))
	}
	if !version.Served {
		return fmt.Errorf("%s: CRD %s does not serve version %q any more: use one of %s", source, crd.Name, gv.Version, strings.Join(served, ", "))
	}
	c, err := compiledSchema(source, crd, version)
	if err != nil {
		return err
	}
	structural := c.structural

	// The API server works on JSON-decoded objects, where whole numbers are int64; a round trip gives obj that
	// shape and keeps the caller's map untouched by pruning.
	cr, err := jsonCopy(obj)
	if err != nil {
		return err
	}
	ref := fmt.Sprintf("%s %s", kind, objectName(cr))

	var problems []string
	add := func(errs field.ErrorList) {
		for _, e := range errs {
			problems = append(problems, e.Error())
		}
	}
	add(scopeErrors(crd, cr))
	fieldErr, unknownMeta := objectmeta.CoerceWithOptions(nil, cr, structural, true, objectmeta.CoerceOptions{ReturnUnknownFieldPaths: true})
	if fieldErr != nil {
		add(field.ErrorList{fieldErr})
	}
	unknown := append(unknownMeta, pruning.PruneWithOptions(cr, structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})...)
	for _, path := range unknown {
		problems = append(problems, fmt.Sprintf("%s: unknown field (the schema of %s %s has no such field)", path, crd.Name, gv.Version))
	}
	// As the server does before validating: fill in the schema's defaults (rules such as Gateway API's CEL checks
	// count on them) and drop nulls that have none.
	defaulting.Default(cr, structural)
	defaulting.PruneNonNullableNullsWithoutDefaults(cr, structural)
	add(apiservervalidation.ValidateCustomResource(nil, cr, c.validator))
	add(objectmeta.Validate(context.Background(), nil, cr, structural, true))
	add(listtype.ValidateListSetsAndMaps(nil, structural, cr))
	if c.rules != nil {
		errs, _ := c.rules.Validate(context.Background(), nil, structural, cr, nil, celconfig.RuntimeCELCostBudget)
		add(errs)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s is not valid against %s (%s):\n  %s", ref, crd.Name, source, strings.Join(problems, "\n  "))
	}
	return nil
}

// schemaOf is one version's schema, compiled the way the API server holds it. Compiling (CEL rules above all) costs
// far more than checking, so each is compiled once per process.
type schemaOf struct {
	structural *structuralschema.Structural
	validator  apiservervalidation.SchemaValidator
	rules      *cel.Validator
}

var (
	cacheMu  sync.Mutex
	crdFiles = map[string][]apiextensionsv1.CustomResourceDefinition{}
	schemas  = map[string]*schemaOf{}
)

func compiledSchema(source string, crd *apiextensionsv1.CustomResourceDefinition, version *apiextensionsv1.CustomResourceDefinitionVersion) (*schemaOf, error) {
	key := source + "|" + crd.Name + "|" + version.Name
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if c, ok := schemas[key]; ok {
		return c, nil
	}
	var internal apiextensions.JSONSchemaProps
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(version.Schema.OpenAPIV3Schema, &internal, nil); err != nil {
		return nil, fmt.Errorf("%s: converting the schema of %s %s: %w", source, crd.Name, version.Name, err)
	}
	structural, err := structuralschema.NewStructural(&internal)
	if err != nil {
		return nil, fmt.Errorf("%s: CRD %s %s has no structural schema: %w", source, crd.Name, version.Name, err)
	}
	validator, _, err := apiservervalidation.NewSchemaValidator(&internal)
	if err != nil {
		return nil, fmt.Errorf("%s: schema validator for %s %s: %w", source, crd.Name, version.Name, err)
	}
	c := &schemaOf{structural: structural, validator: validator, rules: cel.NewValidator(structural, true, celconfig.PerCallLimit)}
	schemas[key] = c
	return c, nil
}

// readCRDs reads every CustomResourceDefinition of a YAML file (other documents are skipped), once per process.
func readCRDs(path string) ([]apiextensionsv1.CustomResourceDefinition, error) {
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if crds, ok := crdFiles[path]; ok {
		return crds, nil
	}
	crds, err := parseCRDs(path)
	if err == nil {
		crdFiles[path] = crds
	}
	return crds, err
}

func parseCRDs(path string) ([]apiextensionsv1.CustomResourceDefinition, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading CRDs: %w", err)
	}
	var crds []apiextensionsv1.CustomResourceDefinition
	for i, doc := range splitYAML(raw) {
		var head struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, i+1, err)
		}
		if head.Kind != "CustomResourceDefinition" {
			continue
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(doc, &crd); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, i+1, err)
		}
		crds = append(crds, crd)
	}
	if len(crds) == 0 {
		return nil, fmt.Errorf("%s holds no CustomResourceDefinition", path)
	}
	return crds, nil
}

var documentSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

func splitYAML(raw []byte) [][]byte {
	var docs [][]byte
	for _, d := range documentSeparator.Split(string(raw), -1) {
		if b := bytes.TrimSpace([]byte(d)); len(b) > 0 && !onlyComments(b) {
			docs = append(docs, b)
		}
	}
	return docs
}

func onlyComments(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}

func findCRD(crds []apiextensionsv1.CustomResourceDefinition, group, kind string) (*apiextensionsv1.CustomResourceDefinition, []string) {
	var defined []string
	for i := range crds {
		c := &crds[i]
		if c.Spec.Group == group && c.Spec.Names.Kind == kind {
			return c, nil
		}
		defined = append(defined, c.Spec.Group+" "+c.Spec.Names.Kind)
	}
	return nil, defined
}

func findVersion(crd *apiextensionsv1.CustomResourceDefinition, name string) (*apiextensionsv1.CustomResourceDefinitionVersion, []string) {
	var found *apiextensionsv1.CustomResourceDefinitionVersion
	var served []string
	for i := range crd.Spec.Versions {
		v := &crd.Spec.Versions[i]
		if v.Name == name {
			found = v
		}
		if v.Served {
			served = append(served, v.Name)
		}
	}
	return found, served
}

// scopeErrors checks metadata.name and that metadata.namespace fits the CRD's scope. A namespaced object without
// a namespace would land in whatever namespace the Pulumi provider defaults to, so it must name one.
func scopeErrors(crd *apiextensionsv1.CustomResourceDefinition, cr map[string]any) field.ErrorList {
	var errs field.ErrorList
	meta, _ := cr["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	namespace, hasNamespace := meta["namespace"].(string)
	metaPath := field.NewPath("metadata")
	if name == "" {
		errs = append(errs, field.Required(metaPath.Child("name"), "give the object a name"))
	} else if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
		errs = append(errs, field.Invalid(metaPath.Child("name"), name, strings.Join(msgs, "; ")))
	}
	switch crd.Spec.Scope {
	case apiextensionsv1.ClusterScoped:
		if hasNamespace && namespace != "" {
			errs = append(errs, field.Forbidden(metaPath.Child("namespace"), crd.Name+" is cluster-scoped: remove metadata.namespace"))
		}
	case apiextensionsv1.NamespaceScoped:
		if namespace == "" {
			errs = append(errs, field.Required(metaPath.Child("namespace"), crd.Name+" is namespaced: set metadata.namespace"))
		} else if msgs := validation.IsDNS1123Label(namespace); len(msgs) > 0 {
			errs = append(errs, field.Invalid(metaPath.Child("namespace"), namespace, strings.Join(msgs, "; ")))
		}
	}
	return errs
}

func objectName(cr map[string]any) string {
	meta, _ := cr["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	if ns, _ := meta["namespace"].(string); ns != "" {
		return ns + "/" + name
	}
	return name
}

func jsonCopy(obj map[string]any) (map[string]any, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("object is not JSON: %w", err)
	}
	var out map[string]any
	if err := utiljson.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	if out == nil {
		return nil, errors.New("object is empty")
	}
	return out, nil
}
