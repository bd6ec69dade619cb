// Package k8svalidate closes the gap the mock engine leaves for untyped inputs
// (custom resources, Helm values, rendered chart manifests): it decodes them
// strictly into the upstream Go API types, so a misspelt or misplaced field
// fails a test instead of being dropped by the API server at deploy time.
package k8svalidate

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Strict decodes v (plain JSON values, as the plan renders inputs) into the
// typed object into, failing on any field the type does not have.
func Strict(v any, into any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return fmt.Errorf("decoding into %T: %w", into, err)
	}
	return nil
}
