package k8sbase

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Resources are a container's requests and limits.
type Resources struct {
	Requests ResourceList
	Limits   ResourceList
}

// ResourceList holds Kubernetes quantities such as "500m" or "2Gi".
type ResourceList struct {
	CPU    string
	Memory string
}

// Validate checks every quantity is positive and no request exceeds its limit;
// component prefixes the messages (the package whose args carry them).
func (r Resources) Validate(component string) []error {
	var errs []error
	parsed := map[string]resource.Quantity{}
	for _, f := range []struct{ field, value string }{
		{"Requests.CPU", r.Requests.CPU}, {"Requests.Memory", r.Requests.Memory},
		{"Limits.CPU", r.Limits.CPU}, {"Limits.Memory", r.Limits.Memory},
	} {
		q, err := resource.ParseQuantity(f.value)
		if err != nil || q.Sign() <= 0 {
			errs = append(errs, fmt.Errorf("%s: args.Resources.%s %q is not a positive quantity: write it like \"500m\" (CPU) or \"2Gi\" (memory)", component, f.field, f.value))
			continue
		}
		parsed[f.field] = q
	}
	for _, kind := range []string{"CPU", "Memory"} {
		req, okReq := parsed["Requests."+kind]
		lim, okLim := parsed["Limits."+kind]
		if okReq && okLim && req.Cmp(lim) > 0 {
			errs = append(errs, fmt.Errorf("%s: args.Resources.Requests.%s %s is above Limits.%s %s: raise the limit or lower the request", component, kind, req.String(), kind, lim.String()))
		}
	}
	return errs
}
