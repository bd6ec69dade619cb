package policy

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/stackauth-platform/infra/config"
	"github.com/stackauth-platform/infra/internal/chartrender"
	"github.com/stackauth-platform/infra/internal/plan"
)

// Type tokens of the Helm resources.
const (
	helmRelease = "kubernetes:helm.sh/v3:Release"
	helmChart   = "kubernetes:helm.sh/v4:Chart"
)

// Object is one Kubernetes object of the stack, registered directly or
// rendered from a local chart of a Helm release.
type Object struct {
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
	Body       map[string]any
	// Resource creates the object: the object itself, or the Helm release
	// whose chart renders it.
	Resource *plan.Resource
	// Template is the chart template it was rendered from; empty for an
	// object registered directly.
	Template string
}

// Label names the object in findings.
func (o *Object) Label() string {
	if o.Template == "" {
		return label(o.Resource)
	}
	return label(o.Resource) + " renders " + o.Kind + " " + o.Namespace + "/" + o.Name
}

func (o *Object) finding(format string, args ...any) Finding {
	return Finding{Resource: o.Label(), Message: fmt.Sprintf(format, args...)}
}

// Labels are the object's metadata.labels.
func (o *Object) Labels() map[string]string {
	return stringMap(get(o.Body, "metadata", "labels"))
}

// Group is the API group of the object ("" for the core group).
func (o *Object) Group() string {
	if i := strings.Index(o.APIVersion, "/"); i >= 0 {
		return o.APIVersion[:i]
	}
	return ""
}

// Objects returns the objects of the given kinds (all when none are given).
func (s *Stack) Objects(kinds ...string) []*Object {
	var out []*Object
	for _, o := range s.objects {
		if len(kinds) == 0 || slices.Contains(kinds, o.Kind) {
			out = append(out, o)
		}
	}
	return out
}

// kubeType reads the apiVersion and kind out of a pulumi-kubernetes type
// token ("kubernetes:apps/v1:Deployment", "kubernetes:core/v1:Namespace",
// "kubernetes:cert-manager.io/v1:ClusterIssuer"). Tokens that are not one
// object (Helm, YAML and kustomize groups, patches, lists) give ok false.
func kubeType(token string) (apiVersion, kind string, ok bool) {
	rest, found := strings.CutPrefix(token, "kubernetes:")
	if !found {
		return "", "", false
	}
	i := strings.LastIndex(rest, ":")
	if i < 0 {
		return "", "", false
	}
	gv, kind := rest[:i], rest[i+1:]
	if !strings.Contains(gv, "/") || strings.HasSuffix(kind, "Patch") || strings.HasSuffix(kind, "List") {
		return "", "", false
	}
	switch strings.SplitN(gv, "/", 2)[0] {
	case "helm.sh", "yaml", "kustomize":
		return "", "", false
	}
	return strings.TrimPrefix(gv, "core/"), kind, true
}

func (s *Stack) collectObjects() {
	for i := range s.Plan.Resources {
		r := &s.Plan.Resources[i]
		if apiVersion, kind, ok := kubeType(r.Type); ok && r.Custom {
			ns := str(get(r.Inputs, "metadata", "namespace"))
			s.objects = append(s.objects, &Object{
				APIVersion: apiVersion, Kind: kind, Namespace: ns,
				Name: str(get(r.Inputs, "metadata", "name")), Body: r.Inputs, Resource: r,
			})
		}
	}
	for _, r := range s.Of(helmRelease) {
		s.render(r)
	}
}

// render adds the objects of a release's local chart. Charts from a
// repository cannot be rendered offline; other rules check how they are
// pinned and what values they get.
func (s *Stack) render(r *plan.Resource) {
	if remoteChart(r) {
		return
	}
	chart := str(r.Inputs["chart"])
	dir := filepath.Join(s.Dir, chart)
	if !chartrender.IsChart(dir) {
		s.unreadable = append(s.unreadable, at(r, "chart %q is neither a local chart directory (no %s) nor from a repository; set repositoryOpts.repo or fix the path", chart, filepath.Join(dir, "Chart.yaml")))
		return
	}
	if r.Inputs["valueYamlFiles"] != nil {
		s.unreadable = append(s.unreadable, at(r, "valueYamlFiles are not merged by the policy renderer; pass the values as `values`"))
		return
	}
	values, ok := r.Inputs["values"].(map[string]any)
	if r.Inputs["values"] != nil && !ok {
		s.unreadable = append(s.unreadable, at(r, "values are %v, not an object, so the chart cannot be rendered", r.Inputs["values"]))
		return
	}
	rel := chartrender.Release{
		Name:        str(r.Inputs["name"]),
		Namespace:   str(r.Inputs["namespace"]),
		KubeVersion: s.Plan.Config[config.FullKey("kubernetesVersion")],
	}
	if rel.Name == "" {
		rel.Name = r.Name
	}
	if rel.Namespace == "" {
		rel.Namespace = "default"
	}
	rendered, err := chartrender.Render(dir, rel, values)
	if err == nil {
		var docs []chartrender.Document
		docs, err = chartrender.Documents(rendered)
		for _, d := range docs {
			ns := str(get(d.Object, "metadata", "namespace"))
			if ns == "" {
				ns = rel.Namespace
			}
			s.objects = append(s.objects, &Object{
				APIVersion: str(d.Object["apiVersion"]), Kind: str(d.Object["kind"]), Namespace: ns,
				Name: str(get(d.Object, "metadata", "name")), Body: d.Object, Resource: r, Template: d.Template,
			})
		}
	}
	if err != nil {
		s.unreadable = append(s.unreadable, at(r, "the local chart does not render with the release's values (%v), so its objects cannot be checked; fix the chart or the values", err))
	}
}

// remoteChart reports whether a release installs a chart from a repository.
func remoteChart(r *plan.Resource) bool {
	return str(get(r.Inputs, "repositoryOpts", "repo")) != "" || strings.Contains(str(r.Inputs["chart"]), "://")
}

// namespaceOf is where a namespaced object lands: the provider's default
// namespace when the object names none.
func namespaceOf(o *Object) string {
	if o.Namespace == "" {
		return "default"
	}
	return o.Namespace
}

// Workload is an object that runs pods.
type Workload struct {
	*Object
	Pod corev1.PodTemplateSpec
	// LongRunning is false for Jobs, CronJobs and bare Pods that complete.
	LongRunning bool
	// Replicas is the declared count (nil when the kind has none, as for
	// DaemonSets and Jobs).
	Replicas *int32
}

// Workloads decodes every workload object; objects that do not decode into
// their API type are reported by K8S-OBJ-001 and skipped here.
func (s *Stack) Workloads() []Workload {
	var out []Workload
	for _, o := range s.objects {
		w, ok, err := decodeWorkload(o)
		if err == nil && ok {
			out = append(out, w)
		}
	}
	return out
}

func decodeWorkload(o *Object) (Workload, bool, error) {
	w := Workload{Object: o, LongRunning: true}
	var err error
	switch o.APIVersion + "/" + o.Kind {
	case "apps/v1/Deployment":
		var d appsv1.Deployment
		err = decode(o.Body, &d)
		w.Pod, w.Replicas = d.Spec.Template, d.Spec.Replicas
	case "apps/v1/StatefulSet":
		var d appsv1.StatefulSet
		err = decode(o.Body, &d)
		w.Pod, w.Replicas = d.Spec.Template, d.Spec.Replicas
	case "apps/v1/ReplicaSet":
		var d appsv1.ReplicaSet
		err = decode(o.Body, &d)
		w.Pod, w.Replicas = d.Spec.Template, d.Spec.Replicas
	case "apps/v1/DaemonSet":
		var d appsv1.DaemonSet
		err = decode(o.Body, &d)
		w.Pod = d.Spec.Template
	case "batch/v1/Job":
		var j batchv1.Job
		err = decode(o.Body, &j)
		w.Pod, w.LongRunning = j.Spec.Template, false
	case "batch/v1/CronJob":
		var c batchv1.CronJob
		err = decode(o.Body, &c)
		w.Pod, w.LongRunning = c.Spec.JobTemplate.Spec.Template, false
	case "v1/Pod":
		var p corev1.Pod
		err = decode(o.Body, &p)
		w.Pod.ObjectMeta, w.Pod.Spec = p.ObjectMeta, p.Spec
		w.LongRunning = p.Spec.RestartPolicy == "" || p.Spec.RestartPolicy == corev1.RestartPolicyAlways
	default:
		return w, false, nil
	}
	return w, true, err
}

// MinReplicas is the fewest pods the workload runs: the minimum of an HPA
// that scales it, else its declared replicas (default 1); 0 for kinds
// without a replica count.
func (s *Stack) MinReplicas(w Workload) int32 {
	for _, o := range s.Objects("HorizontalPodAutoscaler") {
		var h autoscalingv2.HorizontalPodAutoscaler
		if decode(o.Body, &h) != nil || namespaceOf(o) != namespaceOf(w.Object) {
			continue
		}
		if h.Spec.ScaleTargetRef.Kind == w.Kind && h.Spec.ScaleTargetRef.Name == w.Name {
			if h.Spec.MinReplicas == nil {
				return 1
			}
			return *h.Spec.MinReplicas
		}
	}
	switch w.Kind {
	case "Deployment", "StatefulSet", "ReplicaSet":
		if w.Replicas == nil {
			return 1
		}
		return *w.Replicas
	}
	return 0
}

// Containers are every container of the pod: init, regular and ephemeral.
func (w Workload) Containers() []corev1.Container {
	out := append([]corev1.Container{}, w.Pod.Spec.InitContainers...)
	out = append(out, w.Pod.Spec.Containers...)
	for _, e := range w.Pod.Spec.EphemeralContainers {
		out = append(out, corev1.Container(e.EphemeralContainerCommon))
	}
	return out
}

// decode reads plain JSON values into an API type; fields the type does not
// have are ignored (schema checks are internal/k8svalidate's business).
func decode(v any, into any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, into)
}

func stringMap(v any) map[string]string {
	m, _ := v.(map[string]any)
	out := make(map[string]string, len(m))
	for k, e := range m {
		if s, ok := e.(string); ok {
			out[k] = s
		}
	}
	return out
}
