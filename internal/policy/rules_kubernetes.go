package policy

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/stackauth-platform/infra/config"
	"github.com/stackauth-platform/infra/internal/plan"
)

var kubernetesRules = []Rule{
	{ID: "K8S-OBJ-001", Description: "every Kubernetes object of the plan can be read: local charts render with their release's values, objects decode into their API types", Check: objectsReadable},
	{ID: "K8S-POD-001", Description: "every container runs as non-root (runAsNonRoot, never UID 0)", Check: podsNonRoot},
	{ID: "K8S-POD-002", Description: "no container may escalate privileges (allowPrivilegeEscalation: false, not privileged, no host namespaces)", Check: podsNoEscalation},
	{ID: "K8S-POD-003", Description: "every container requests and limits CPU and memory", Check: podsResourceLimits},
	{ID: "K8S-POD-004", Description: "every long-running container has readiness and liveness probes", Check: podsProbed},
	{ID: "K8S-POD-005", Description: "containers drop ALL capabilities and run under the RuntimeDefault (or a Localhost) seccomp profile", Check: podsRestricted},
	{ID: "K8S-IMG-001", Description: "images are pinned: a tag other than latest, or a digest", Check: imagesPinned},
	{ID: "K8S-IMG-002", Description: "the rate-limit gateway's image is pinned by digest (@sha256:) where the program builds it (AWS stacks)", Check: gatewayImageByDigest},
	{ID: "K8S-NET-001", Description: "the app namespace (stack output `namespace`) has a default-deny NetworkPolicy for ingress and egress", Check: appNamespaceDefaultDeny},
	{ID: "K8S-PDB-001", Description: "workloads that run two or more replicas have a PodDisruptionBudget that still lets a node drain", Check: multiReplicaPDB},
	{ID: "K8S-SVC-001", Description: "internet-facing load balancers (LoadBalancer Services, Envoy Gateway listeners) expose only ports 80 and 443", Check: publicServicesWebOnly},
	{ID: "K8S-CRD-001", Description: "custom resources depend on the Helm release (or CRD) that installs their CRD", Check: customResourcesAfterCRDs},
	{ID: "K8S-MON-001", Description: "ServiceMonitors, PodMonitors and PrometheusRules match the selector of a Prometheus in the stack", Check: monitorsSelected},
	{ID: "K8S-HELM-001", Description: "Helm charts from a repository are pinned to an exact version", Check: chartsPinned},
}

func objectsReadable(s *Stack) []Finding {
	out := append([]Finding{}, s.unreadable...)
	for _, o := range s.objects {
		_, _, err := decodeWorkload(o)
		if err == nil {
			err = decodeKnown(o)
		}
		if err != nil {
			out = append(out, o.finding("does not decode as %s %s (%v), so no rule can read it; fix the field (a value unknown in this plan needs a plan made without Preview)", o.APIVersion, o.Kind, err))
		}
	}
	return out
}

// decodeKnown decodes the non-workload kinds the rules read.
func decodeKnown(o *Object) error {
	var into any
	switch o.APIVersion + "/" + o.Kind {
	case "policy/v1/PodDisruptionBudget":
		into = &policyv1.PodDisruptionBudget{}
	case "networking.k8s.io/v1/NetworkPolicy":
		into = &networkingv1.NetworkPolicy{}
	case "autoscaling/v2/HorizontalPodAutoscaler":
		into = &autoscalingv2.HorizontalPodAutoscaler{}
	case "v1/Service":
		into = &corev1.Service{}
	default:
		return nil
	}
	return decode(o.Body, into)
}

func (w Workload) finding(c string, format string, args ...any) Finding {
	return w.Object.finding("container %s: %s", c, fmt.Sprintf(format, args...))
}

func podsNonRoot(s *Stack) []Finding {
	var out []Finding
	for _, w := range s.Workloads() {
		pod := w.Pod.Spec.SecurityContext
		if pod == nil {
			pod = &corev1.PodSecurityContext{}
		}
		for _, c := range w.Containers() {
			sc := c.SecurityContext
			if sc == nil {
				sc = &corev1.SecurityContext{}
			}
			nonRoot, user := sc.RunAsNonRoot, sc.RunAsUser
			if nonRoot == nil {
				nonRoot = pod.RunAsNonRoot
			}
			if user == nil {
				user = pod.RunAsUser
			}
			switch {
			case user != nil && *user == 0:
				out = append(out, w.finding(c.Name, "runs as UID 0; run as the image's non-root user (runAsUser > 0, runAsNonRoot: true)"))
			case nonRoot == nil || !*nonRoot:
				out = append(out, w.finding(c.Name, "runAsNonRoot is not true, so an image that runs as root is started; set runAsNonRoot: true (and a numeric runAsUser) in the pod or container securityContext"))
			}
		}
	}
	return out
}

func podsNoEscalation(s *Stack) []Finding {
	var out []Finding
	for _, w := range s.Workloads() {
		spec := w.Pod.Spec
		if spec.HostNetwork || spec.HostPID || spec.HostIPC {
			out = append(out, w.Object.finding("shares the node's network, PID or IPC namespace; set hostNetwork, hostPID and hostIPC to false"))
		}
		for _, c := range w.Containers() {
			sc := c.SecurityContext
			switch {
			case sc != nil && sc.Privileged != nil && *sc.Privileged:
				out = append(out, w.finding(c.Name, "is privileged; remove privileged: true"))
			case sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
				out = append(out, w.finding(c.Name, "allowPrivilegeEscalation is not false, so setuid binaries can gain privileges; set allowPrivilegeEscalation: false"))
			}
		}
	}
	return out
}

func podsResourceLimits(s *Stack) []Finding {
	var out []Finding
	for _, w := range s.Workloads() {
		for _, c := range append(append([]corev1.Container{}, w.Pod.Spec.InitContainers...), w.Pod.Spec.Containers...) {
			var missing []string
			for _, need := range []struct {
				list corev1.ResourceList
				kind string
				name corev1.ResourceName
			}{
				{c.Resources.Requests, "requests", corev1.ResourceCPU}, {c.Resources.Requests, "requests", corev1.ResourceMemory},
				{c.Resources.Limits, "limits", corev1.ResourceCPU}, {c.Resources.Limits, "limits", corev1.ResourceMemory},
			} {
				if q, ok := need.list[need.name]; !ok || q.IsZero() {
					missing = append(missing, need.kind+"."+string(need.name))
				}
			}
			if len(missing) > 0 {
				out = append(out, w.finding(c.Name, "no %s; set them so the scheduler reserves capacity and one pod cannot starve its node", strings.Join(missing, ", ")))
			}
		}
	}
	return out
}

func podsProbed(s *Stack) []Finding {
	var out []Finding
	for _, w := range s.Workloads() {
		if !w.LongRunning {
			continue
		}
		containers := append([]corev1.Container{}, w.Pod.Spec.Containers...)
		for _, c := range w.Pod.Spec.InitContainers {
			if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
				containers = append(containers, c) // a sidecar runs as long as the pod
			}
		}
		for _, c := range containers {
			var missing []string
			if c.ReadinessProbe == nil {
				missing = append(missing, "readinessProbe")
			}
			if c.LivenessProbe == nil {
				missing = append(missing, "livenessProbe")
			}
			if len(missing) > 0 {
				out = append(out, w.finding(c.Name, "no %s; without them a pod that is not ready gets traffic and a hung one is never restarted", strings.Join(missing, " or ")))
			}
		}
	}
	return out
}

func podsRestricted(s *Stack) []Finding {
	var out []Finding
	for _, w := range s.Workloads() {
		var podSeccomp *corev1.SeccompProfile
		if w.Pod.Spec.SecurityContext != nil {
			podSeccomp = w.Pod.Spec.SecurityContext.SeccompProfile
		}
		for _, c := range w.Containers() {
			sc := c.SecurityContext
			if sc == nil {
				sc = &corev1.SecurityContext{}
			}
			dropsAll := false
			var added []string
			if sc.Capabilities != nil {
				for _, d := range sc.Capabilities.Drop {
					dropsAll = dropsAll || d == "ALL"
				}
				for _, a := range sc.Capabilities.Add {
					if a != "NET_BIND_SERVICE" {
						added = append(added, string(a))
					}
				}
			}
			if !dropsAll {
				out = append(out, w.finding(c.Name, "does not drop ALL capabilities; set securityContext.capabilities.drop: [ALL]"))
			}
			if len(added) > 0 {
				out = append(out, w.finding(c.Name, "adds capabilities %v; only NET_BIND_SERVICE may be added back", added))
			}
			seccomp := sc.SeccompProfile
			if seccomp == nil {
				seccomp = podSeccomp
			}
			if seccomp == nil || (seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault && seccomp.Type != corev1.SeccompProfileTypeLocalhost) {
				out = append(out, w.finding(c.Name, "runs without a seccomp profile; set seccompProfile.type: RuntimeDefault in the pod securityContext"))
			}
		}
	}
	return out
}

// splitImage splits an image reference into repository, tag and digest.
func splitImage(ref string) (repo, tag, digest string) {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref, digest = ref[:i], ref[i+1:]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref, tag = ref[:i], ref[i+1:]
	}
	return ref, tag, digest
}

var sha256Digest = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

func imagesPinned(s *Stack) []Finding {
	var out []Finding
	for _, w := range s.Workloads() {
		for _, c := range w.Containers() {
			if c.Image == plan.Unknown {
				out = append(out, w.finding(c.Name, "the image is unknown in this plan, so its pin cannot be verified; evaluate a plan made without Preview"))
				continue
			}
			_, tag, digest := splitImage(c.Image)
			switch {
			case sha256Digest.MatchString(digest):
			case tag == "":
				out = append(out, w.finding(c.Name, "image %q has no tag, which means latest; pin a version tag or a digest", c.Image))
			case tag == "latest":
				out = append(out, w.finding(c.Name, "image %q is latest, so every pull may run different code; pin a version tag or a digest", c.Image))
			}
		}
	}
	return out
}

// gatewayName matches the names the rate-limit gateway goes by: its image
// (built by cmd/image) and its workload labels.
var gatewayName = regexp.MustCompile(`(?i)rate-?limit`)

// isGateway reports whether a container is the rate-limit gateway: by its
// image or container name, or as the one container of a workload labelled so.
func (w Workload) isGateway(c corev1.Container) bool {
	repo, _, _ := splitImage(c.Image)
	if gatewayName.MatchString(path.Base(repo)) || gatewayName.MatchString(c.Name) {
		return true
	}
	labelled := false
	for _, ls := range []map[string]string{w.Labels(), w.Pod.Labels} {
		for _, k := range []string{"app.kubernetes.io/name", "app.kubernetes.io/component", "app"} {
			labelled = labelled || gatewayName.MatchString(ls[k])
		}
	}
	return labelled && len(w.Pod.Spec.Containers) == 1
}

// A local stack runs a gateway image its user built and loaded (stackauth:gatewayImage, tag-pinned as K8S-IMG-001
// demands); only where the program builds and pushes the image itself can it reference exactly that build.
func gatewayImageByDigest(s *Stack) []Finding {
	if s.Plan.Config[config.FullKey("cloud")] == "local" {
		return nil
	}
	var out []Finding
	for _, w := range s.Workloads() {
		for _, c := range w.Pod.Spec.Containers {
			if !w.isGateway(c) {
				continue
			}
			if _, _, digest := splitImage(c.Image); !sha256Digest.MatchString(digest) {
				out = append(out, w.finding(c.Name, "the rate-limit gateway's image %q is not pinned by digest; reference <repo>@sha256:<digest> as cmd/image and ociimage.Push report it, so a rollout runs exactly the image built", c.Image))
			}
		}
	}
	return out
}

// emptySelector reports whether a selector selects every pod.
func emptySelector(sel metav1.LabelSelector) bool {
	return len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0
}

// denyAll reports whether a NetworkPolicy isolates every pod of its
// namespace in direction t and allows nothing.
func denyAll(np networkingv1.NetworkPolicy, t networkingv1.PolicyType) bool {
	if !emptySelector(np.Spec.PodSelector) {
		return false
	}
	types := np.Spec.PolicyTypes
	if len(types) == 0 {
		// Kubernetes defaults: Ingress always, Egress when egress rules exist.
		types = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	}
	for _, have := range types {
		if have == t {
			if t == networkingv1.PolicyTypeIngress {
				return len(np.Spec.Ingress) == 0
			}
			return len(np.Spec.Egress) == 0
		}
	}
	return false
}

// appNamespace is the namespace the stack declares for the app.
func (s *Stack) appNamespace() string { return str(s.Plan.Outputs["namespace"]) }

// namespaceUsed reports whether the stack creates the namespace or puts
// anything in it.
func (s *Stack) namespaceUsed(ns string) bool {
	for _, o := range s.objects {
		if (o.Kind == "Namespace" && o.Name == ns) || o.Namespace == ns {
			return true
		}
	}
	for _, r := range s.Of(helmRelease, helmChart) {
		if str(r.Inputs["namespace"]) == ns {
			return true
		}
	}
	return false
}

func appNamespaceDefaultDeny(s *Stack) []Finding {
	ns := s.appNamespace()
	if ns == "" || !s.namespaceUsed(ns) {
		return nil
	}
	denied := map[networkingv1.PolicyType]bool{}
	for _, o := range s.Objects("NetworkPolicy") {
		var np networkingv1.NetworkPolicy
		if namespaceOf(o) != ns || decode(o.Body, &np) != nil {
			continue
		}
		for _, t := range []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress} {
			denied[t] = denied[t] || denyAll(np, t)
		}
	}
	var missing []string
	for _, t := range []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress} {
		if !denied[t] {
			missing = append(missing, string(t))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return []Finding{{Resource: "namespace " + ns, Message: fmt.Sprintf(
		"no NetworkPolicy with an empty podSelector denies all %s, so a pod added to the app namespace without its own policy is open; add one (podSelector: {}, policyTypes: [Ingress, Egress], no rules) and allow each flow explicitly",
		strings.Join(missing, " and "))}}
}

func multiReplicaPDB(s *Stack) []Finding {
	var pdbs []struct {
		obj  *Object
		spec policyv1.PodDisruptionBudget
	}
	for _, o := range s.Objects("PodDisruptionBudget") {
		var p policyv1.PodDisruptionBudget
		if decode(o.Body, &p) == nil {
			pdbs = append(pdbs, struct {
				obj  *Object
				spec policyv1.PodDisruptionBudget
			}{o, p})
		}
	}
	var out []Finding
	for _, w := range s.Workloads() {
		min := s.MinReplicas(w)
		if min < 2 {
			continue
		}
		covered := false
		for _, p := range pdbs {
			if namespaceOf(p.obj) != namespaceOf(w.Object) || p.spec.Spec.Selector == nil {
				continue
			}
			sel, err := metav1.LabelSelectorAsSelector(p.spec.Spec.Selector)
			if err != nil || sel.Empty() || !sel.Matches(labels.Set(w.Pod.Labels)) {
				continue
			}
			covered = true
			spec := p.spec.Spec
			if mu := spec.MaxUnavailable; mu != nil && (mu.String() == "0" || mu.String() == "0%") {
				out = append(out, p.obj.finding("maxUnavailable is %s, so no node running these pods can ever be drained; allow at least 1", mu.String()))
			}
			if ma := spec.MinAvailable; ma != nil && (ma.String() == "100%" || (ma.Type == 0 && ma.IntVal >= min)) {
				out = append(out, p.obj.finding("minAvailable %s leaves no pod of the %d to disrupt, so drains block; lower it or use maxUnavailable: 1", ma.String(), min))
			}
		}
		if !covered {
			out = append(out, w.Object.finding("runs at least %d replicas but no PodDisruptionBudget selects its pods, so a node drain may evict them all at once; add one with maxUnavailable: 1", min))
		}
	}
	return out
}

// internalAnnotations mark a LoadBalancer Service internal.
var internalAnnotations = map[string]string{
	"service.beta.kubernetes.io/aws-load-balancer-scheme":   "internal",
	"service.beta.kubernetes.io/aws-load-balancer-internal": "true",
}

// internetFacing reports whether a Service of this type, annotations and
// source ranges is a load balancer anyone may reach. Without a scheme
// annotation it counts as internet-facing: that is what the in-tree cloud
// provider builds.
func internetFacing(serviceType string, annotations map[string]string, sourceRanges []string) bool {
	if serviceType != string(corev1.ServiceTypeLoadBalancer) {
		return false
	}
	for k, v := range internalAnnotations {
		if annotations[k] == v {
			return false
		}
	}
	open := len(sourceRanges) == 0
	for _, r := range sourceRanges {
		open = open || internet[r]
	}
	return open
}

func publicServicesWebOnly(s *Stack) []Finding {
	var out []Finding
	for _, o := range s.Objects("Service") {
		var svc corev1.Service
		if decode(o.Body, &svc) != nil || !internetFacing(string(svc.Spec.Type), svc.Annotations, svc.Spec.LoadBalancerSourceRanges) {
			continue
		}
		for _, p := range svc.Spec.Ports {
			if p.Port != 80 && p.Port != 443 {
				out = append(out, o.finding("port %d is open to the internet through the load balancer; serve only 80 and 443 publicly, or mark the Service internal", p.Port))
			}
		}
	}
	for _, gw := range s.Objects("Gateway") {
		if gw.Group() != "gateway.networking.k8s.io" {
			continue
		}
		// Envoy Gateway makes one Service per Gateway, shaped by the EnvoyProxy the Gateway or its class names;
		// without one it is a plain LoadBalancer.
		service := get(s.envoyProxyFor(gw), "spec", "provider", "kubernetes", "envoyService")
		serviceType := str(get(service, "type"))
		if serviceType == "" {
			serviceType = string(corev1.ServiceTypeLoadBalancer)
		}
		if !internetFacing(serviceType, stringMap(get(service, "annotations")), stringList(get(service, "loadBalancerSourceRanges"))) {
			continue
		}
		for _, l := range list(get(gw.Body, "spec", "listeners")) {
			if port, _ := number(get(l, "port")); port != 80 && port != 443 {
				out = append(out, gw.finding("listener %s on port %v is served by an internet-facing load balancer; listen publicly on 80 and 443 only, or make the EnvoyProxy's service internal", str(get(l, "name")), port))
			}
		}
	}
	return out
}

// envoyProxyFor returns the body of the EnvoyProxy a Gateway is configured
// by: its own infrastructure.parametersRef, else its GatewayClass's.
func (s *Stack) envoyProxyFor(gw *Object) any {
	find := func(ref any, defaultNamespace string) any {
		if str(get(ref, "kind")) != "EnvoyProxy" {
			return nil
		}
		ns := str(get(ref, "namespace"))
		if ns == "" {
			ns = defaultNamespace
		}
		for _, p := range s.Objects("EnvoyProxy") {
			if p.Name == str(get(ref, "name")) && namespaceOf(p) == ns {
				return p.Body
			}
		}
		return nil
	}
	if p := find(get(gw.Body, "spec", "infrastructure", "parametersRef"), namespaceOf(gw)); p != nil {
		return p
	}
	for _, c := range s.Objects("GatewayClass") {
		if c.Name == str(get(gw.Body, "spec", "gatewayClassName")) {
			return find(get(c.Body, "spec", "parametersRef"), "")
		}
	}
	return nil
}

// builtinGroups are the API groups a cluster serves without CRDs.
var builtinGroups = map[string]bool{
	"": true, "apps": true, "batch": true, "autoscaling": true, "policy": true, "extensions": true,
	"networking.k8s.io": true, "rbac.authorization.k8s.io": true, "storage.k8s.io": true,
	"apiextensions.k8s.io": true, "admissionregistration.k8s.io": true, "scheduling.k8s.io": true,
	"coordination.k8s.io": true, "discovery.k8s.io": true, "node.k8s.io": true, "certificates.k8s.io": true,
	"flowcontrol.apiserver.k8s.io": true, "apiregistration.k8s.io": true, "events.k8s.io": true,
	"resource.k8s.io": true, "authentication.k8s.io": true, "authorization.k8s.io": true,
	"internal.apiserver.k8s.io": true, "storagemigration.k8s.io": true,
}

// crdChart says which API groups a chart installs the CRDs of, and whether
// a release of it does so with its values (some charts need a switch).
type crdChart struct {
	groups   []string
	installs func(values any, skipCrds bool) bool
}

func crdsDirectory(_ any, skipCrds bool) bool { return !skipCrds }

// crdCharts are the charts this platform takes CRDs from, by chart name.
var crdCharts = map[string]crdChart{
	"cert-manager": {[]string{"cert-manager.io", "acme.cert-manager.io"}, func(v any, _ bool) bool {
		return get(v, "crds", "enabled") == true || get(v, "installCRDs") == true
	}},
	"external-secrets": {[]string{"external-secrets.io", "generators.external-secrets.io"}, func(v any, _ bool) bool {
		return get(v, "installCRDs") != false
	}},
	"kube-prometheus-stack": {[]string{"monitoring.coreos.com"}, func(v any, skip bool) bool {
		return !skip && get(v, "crds", "enabled") != false
	}},
	"prometheus-operator-crds": {[]string{"monitoring.coreos.com"}, func(v any, _ bool) bool { return true }},
	"gateway-helm":             {[]string{"gateway.networking.k8s.io", "gateway.envoyproxy.io"}, crdsDirectory},
	"karpenter":                {[]string{"karpenter.sh", "karpenter.k8s.aws"}, crdsDirectory},
	"karpenter-crd":            {[]string{"karpenter.sh", "karpenter.k8s.aws"}, func(v any, _ bool) bool { return true }},
}

// chartName is the chart's name without repository or path.
func chartName(r *plan.Resource) string { return path.Base(str(r.Inputs["chart"])) }

// installsCRDsOf reports whether a release or CRD resource installs the
// CRD of group/kind.
func installsCRDsOf(dep *plan.Resource, group, kind string) bool {
	switch dep.Type {
	case "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition":
		return str(get(dep.Inputs, "spec", "group")) == group && str(get(dep.Inputs, "spec", "names", "kind")) == kind
	case helmRelease:
		c, known := crdCharts[chartName(dep)]
		if !known {
			// A chart this table does not know: trust the ordering, as its CRDs cannot be listed offline.
			return !groupKnown(group)
		}
		for _, g := range c.groups {
			if g == group {
				return c.installs(dep.Inputs["values"], truthy(dep.Inputs["skipCrds"]))
			}
		}
	}
	return false
}

func groupKnown(group string) bool { return len(chartsInstalling(group)) > 0 }

// chartsInstalling names the charts of crdCharts that install a group's CRDs.
func chartsInstalling(group string) []string {
	var names []string
	for name, c := range crdCharts {
		for _, g := range c.groups {
			if g == group {
				names = append(names, name)
			}
		}
	}
	sort.Strings(names)
	return names
}

func customResourcesAfterCRDs(s *Stack) []Finding {
	var out []Finding
	for _, o := range s.objects {
		if builtinGroups[o.Group()] {
			continue
		}
		r := o.Resource
		deps := append([]string{}, r.DependsOn...)
		for _, urns := range r.PropertyDependencies {
			deps = append(deps, urns...)
		}
		ok := false
		for _, urn := range deps {
			if dep, found := s.Resource(urn); found && installsCRDsOf(dep, o.Group(), o.Kind) {
				ok = true
				break
			}
		}
		if ok {
			continue
		}
		source := "the Helm release that installs its CRD"
		if charts := chartsInstalling(o.Group()); len(charts) > 0 {
			source = "the " + strings.Join(charts, " or ") + " release (with its CRDs turned on)"
		}
		out = append(out, o.finding("%s/%s does not depend on %s, so a fresh stack creates it before its CRD exists and fails; add pulumi.DependsOn on that release", o.Group(), o.Kind, source))
	}
	return out
}

// monitorKinds are the prometheus-operator kinds a Prometheus selects, with
// the kube-prometheus-stack values that set its selectors.
var monitorKinds = map[string]struct{ selector, nilUsesHelm, namespaces, specSelector, specNamespaces string }{
	"ServiceMonitor": {"serviceMonitorSelector", "serviceMonitorSelectorNilUsesHelmValues", "serviceMonitorNamespaceSelector", "serviceMonitorSelector", "serviceMonitorNamespaceSelector"},
	"PodMonitor":     {"podMonitorSelector", "podMonitorSelectorNilUsesHelmValues", "podMonitorNamespaceSelector", "podMonitorSelector", "podMonitorNamespaceSelector"},
	"PrometheusRule": {"ruleSelector", "ruleSelectorNilUsesHelmValues", "ruleNamespaceSelector", "ruleSelector", "ruleNamespaceSelector"},
}

// prometheus is one Prometheus and what it selects, per monitor kind.
type prometheus struct {
	name      string
	namespace string
	// selectors per kind; nil selects nothing.
	selectors map[string]*metav1.LabelSelector
	// namespaces per kind; nil means the Prometheus's own namespace only.
	namespaces map[string]*metav1.LabelSelector
}

func selectorOf(v any) (*metav1.LabelSelector, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	var sel metav1.LabelSelector
	if decode(m, &sel) != nil {
		return nil, false
	}
	return &sel, true
}

// prometheuses lists the Prometheus instances of the stack: one per
// kube-prometheus-stack release (as its chart templates the selectors from
// values) and one per Prometheus resource. Releases without a fixed name
// cannot be matched by label and are reported.
func (s *Stack) prometheuses() ([]prometheus, []Finding) {
	var out []prometheus
	var problems []Finding
	for _, r := range s.Of(helmRelease) {
		if chartName(r) != "kube-prometheus-stack" || get(r.Inputs, "values", "prometheus", "enabled") == false {
			continue
		}
		name := str(r.Inputs["name"])
		if name == "" {
			problems = append(problems, at(r, "has no fixed release name, so the `release: <name>` label its Prometheus selects by is unknown; set name"))
			continue
		}
		spec := get(r.Inputs, "values", "prometheus", "prometheusSpec")
		p := prometheus{name: label(r), namespace: str(r.Inputs["namespace"]), selectors: map[string]*metav1.LabelSelector{}, namespaces: map[string]*metav1.LabelSelector{}}
		for kind, keys := range monitorKinds {
			if sel, ok := selectorOf(get(spec, keys.selector)); ok && len(asMap(get(spec, keys.selector))) > 0 {
				p.selectors[kind] = sel
			} else if get(spec, keys.nilUsesHelm) != false {
				p.selectors[kind] = &metav1.LabelSelector{MatchLabels: map[string]string{"release": name}}
			} else {
				p.selectors[kind] = &metav1.LabelSelector{}
			}
			// The chart's namespace selectors default to {}: every namespace.
			p.namespaces[kind] = &metav1.LabelSelector{}
			if sel, ok := selectorOf(get(spec, keys.namespaces)); ok {
				p.namespaces[kind] = sel
			}
		}
		out = append(out, p)
	}
	for _, o := range s.Objects("Prometheus") {
		if o.Group() != "monitoring.coreos.com" {
			continue
		}
		p := prometheus{name: o.Label(), namespace: namespaceOf(o), selectors: map[string]*metav1.LabelSelector{}, namespaces: map[string]*metav1.LabelSelector{}}
		for kind, keys := range monitorKinds {
			if sel, ok := selectorOf(get(o.Body, "spec", keys.specSelector)); ok {
				p.selectors[kind] = sel
			}
			if sel, ok := selectorOf(get(o.Body, "spec", keys.specNamespaces)); ok {
				p.namespaces[kind] = sel
			}
		}
		out = append(out, p)
	}
	return out, problems
}

// namespaceLabels are the labels of a namespace: those the stack gives it
// and the name label Kubernetes sets.
func (s *Stack) namespaceLabels(ns string) labels.Set {
	set := labels.Set{"kubernetes.io/metadata.name": ns}
	for _, o := range s.Objects("Namespace") {
		if o.Name == ns {
			for k, v := range o.Labels() {
				set[k] = v
			}
		}
	}
	return set
}

// rejects says why the Prometheus does not read the monitor object; empty
// when it does.
func (p prometheus) rejects(s *Stack, o *Object) string {
	sel := p.selectors[o.Kind]
	if sel == nil {
		return fmt.Sprintf("%s selects no %s (its %s is unset)", p.name, o.Kind, monitorKinds[o.Kind].specSelector)
	}
	ls, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || !ls.Matches(labels.Set(o.Labels())) {
		return fmt.Sprintf("%s selects labels %s", p.name, metav1.FormatLabelSelector(sel))
	}
	ns := namespaceOf(o)
	nsSel := p.namespaces[o.Kind]
	if nsSel == nil {
		if ns == p.namespace {
			return ""
		}
		return fmt.Sprintf("%s reads only its own namespace %s", p.name, p.namespace)
	}
	nss, err := metav1.LabelSelectorAsSelector(nsSel)
	if err != nil || !nss.Matches(s.namespaceLabels(ns)) {
		return fmt.Sprintf("%s reads namespaces %s, not %s", p.name, metav1.FormatLabelSelector(nsSel), ns)
	}
	return ""
}

func monitorsSelected(s *Stack) []Finding {
	proms, problems := s.prometheuses()
	out := problems
	for _, o := range s.objects {
		if _, ok := monitorKinds[o.Kind]; !ok || o.Group() != "monitoring.coreos.com" {
			continue
		}
		if len(proms) == 0 {
			out = append(out, o.finding("no Prometheus in the stack (kube-prometheus-stack release or Prometheus resource) would read it; deploy monitoring or drop the %s", o.Kind))
			continue
		}
		var why []string
		for _, p := range proms {
			reason := p.rejects(s, o)
			if reason == "" {
				why = nil
				break
			}
			why = append(why, reason)
		}
		if len(why) > 0 {
			sort.Strings(why)
			out = append(out, o.finding("no Prometheus reads it (its labels are {%s}; %s); give it the labels Prometheus selects by (Platform.MonitorLabels) in a namespace it reads", labels.Set(o.Labels()).String(), strings.Join(why, "; ")))
		}
	}
	return out
}

// exactVersion matches a chart version that names one release.
var exactVersion = regexp.MustCompile(`^v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$`)

func chartsPinned(s *Stack) []Finding {
	var out []Finding
	for _, r := range s.Of(helmRelease, helmChart) {
		if !remoteChart(r) {
			continue
		}
		if v := str(r.Inputs["version"]); !exactVersion.MatchString(v) {
			out = append(out, at(r, "chart %s version is %q, so each deploy may install a different chart; pin an exact version", str(r.Inputs["chart"]), v))
		}
	}
	return out
}
