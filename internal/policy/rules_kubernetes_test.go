package policy

import (
	"strconv"
	"strings"
	"testing"
)

// goodPod is a pod template that passes every workload rule.
const goodPod = `{"metadata":{"labels":{"app":"api"}},"spec":{
	"securityContext":{"runAsNonRoot":true,"runAsUser":1000,"seccompProfile":{"type":"RuntimeDefault"}},
	"containers":[{"name":"api","image":"example/api:1.2.3",
		"securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}},
		"resources":{"requests":{"cpu":"100m","memory":"128Mi"},"limits":{"cpu":"1","memory":"256Mi"}},
		"readinessProbe":{"httpGet":{"path":"/health","port":8080}},"livenessProbe":{"httpGet":{"path":"/health","port":8080}}}]}}`

func deployment(name string, replicas int, pod string) string {
	return `{"metadata":{"name":"` + name + `","namespace":"app"},"spec":{"replicas":` + strconv.Itoa(replicas) +
		`,"selector":{"matchLabels":{"app":"api"}},"template":` + pod + `}}`
}

func job(pod string) string {
	return `{"metadata":{"name":"migrate","namespace":"app"},"spec":{"template":` + strings.Replace(pod, `"spec":{`, `"spec":{"restartPolicy":"Never",`, 1) + `}}`
}

const (
	deploymentType = "kubernetes:apps/v1:Deployment"
	pdbType        = "kubernetes:policy/v1:PodDisruptionBudget"
	npType         = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
	nsType         = "kubernetes:core/v1:Namespace"
)

// api adds one compliant Deployment with the pod template changed by edit.
func api(b *builder, old, new string) {
	b.add(deploymentType, "api", deployment("api", 1, strings.Replace(goodPod, old, new, 1)))
}

func monitoringRelease(values string) func(b *builder) string {
	return func(b *builder) string {
		return b.add(helmRelease, "monitoring", `{"name":"monitoring","namespace":"monitoring","chart":"kube-prometheus-stack",
			"repositoryOpts":{"repo":"https://prometheus-community.github.io/helm-charts"},"version":"80.0.0","values":`+values+`}`)
	}
}

func serviceMonitor(labels string, opts ...option) func(b *builder) {
	return func(b *builder) {
		b.add("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "gateway", `{"apiVersion":"monitoring.coreos.com/v1","kind":"ServiceMonitor",
			"metadata":{"name":"gateway","namespace":"app","labels":`+labels+`},"spec":{"endpoints":[{"port":"admin"}]}}`, opts...)
	}
}

// envoyProxy adds an EnvoyProxy in namespace edge whose Service has the given load balancer scheme.
func envoyProxy(b *builder, name, scheme string) {
	b.add("kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy", name, `{"metadata":{"name":"`+name+`","namespace":"edge"},"spec":{"provider":{"type":"Kubernetes","kubernetes":{"envoyService":{"type":"LoadBalancer","annotations":{"service.beta.kubernetes.io/aws-load-balancer-scheme":"`+scheme+`"}}}}}}`)
}

func gateway(b *builder, name, class, listeners, extraSpec string) {
	b.add("kubernetes:gateway.networking.k8s.io/v1:Gateway", name, `{"metadata":{"name":"`+name+`","namespace":"edge"},"spec":{"gatewayClassName":"`+class+`","listeners":[`+listeners+`]`+extraSpec+`}}`)
}

var _ = register(
	// K8S-OBJ-001
	ruleCase{"K8S-OBJ-001", "readable objects and a local chart", func(b *builder) {
		api(b, "", "")
		b.add(helmRelease, "demo", `{"name":"demo","namespace":"app","chart":"charts/hardened","values":{}}`)
	}, false},
	ruleCase{"K8S-OBJ-001", "replicas unknown", func(b *builder) {
		b.add(deploymentType, "api", strings.Replace(deployment("api", 1, goodPod), `"replicas":1`, `"replicas":"[unknown]"`, 1))
	}, true},
	ruleCase{"K8S-OBJ-001", "chart path that is no chart", func(b *builder) {
		b.add(helmRelease, "app", `{"chart":"charts/missing","values":{}}`)
	}, true},
	ruleCase{"K8S-OBJ-001", "chart that fails to render", func(b *builder) {
		b.add(helmRelease, "demo", `{"name":"demo","namespace":"app","chart":"charts/hardened","values":{"image":{"tag":""}}}`)
	}, true},
	// K8S-POD-001
	ruleCase{"K8S-POD-001", "non-root", func(b *builder) { api(b, "", "") }, false},
	ruleCase{"K8S-POD-001", "runAsNonRoot off", func(b *builder) { api(b, `"runAsNonRoot":true`, `"runAsNonRoot":false`) }, true},
	ruleCase{"K8S-POD-001", "UID 0", func(b *builder) { api(b, `"runAsUser":1000`, `"runAsUser":0`) }, true},
	ruleCase{"K8S-POD-001", "container overrides the pod", func(b *builder) {
		api(b, `"allowPrivilegeEscalation":false`, `"allowPrivilegeEscalation":false,"runAsNonRoot":false`)
	}, true},
	ruleCase{"K8S-POD-001", "init container as root", func(b *builder) {
		api(b, `"containers":[`, `"initContainers":[{"name":"init","image":"busybox:1.37","securityContext":{"runAsUser":0}}],"containers":[`)
	}, true},
	// K8S-POD-002
	ruleCase{"K8S-POD-002", "no escalation", func(b *builder) { api(b, "", "") }, false},
	ruleCase{"K8S-POD-002", "escalation not forbidden", func(b *builder) {
		api(b, `"allowPrivilegeEscalation":false,`, ``)
	}, true},
	ruleCase{"K8S-POD-002", "privileged", func(b *builder) {
		api(b, `"allowPrivilegeEscalation":false`, `"allowPrivilegeEscalation":false,"privileged":true`)
	}, true},
	ruleCase{"K8S-POD-002", "host network", func(b *builder) {
		api(b, `"securityContext":{"runAsNonRoot"`, `"hostNetwork":true,"securityContext":{"runAsNonRoot"`)
	}, true},
	// K8S-POD-003
	ruleCase{"K8S-POD-003", "requests and limits", func(b *builder) { api(b, "", "") }, false},
	ruleCase{"K8S-POD-003", "no limits", func(b *builder) { api(b, `,"limits":{"cpu":"1","memory":"256Mi"}`, ``) }, true},
	ruleCase{"K8S-POD-003", "no CPU request", func(b *builder) { api(b, `"requests":{"cpu":"100m",`, `"requests":{`) }, true},
	// K8S-POD-004
	ruleCase{"K8S-POD-004", "probed Deployment and an unprobed Job", func(b *builder) {
		api(b, "", "")
		b.add("kubernetes:batch/v1:Job", "migrate", job(strings.Replace(goodPod, `,"readinessProbe":{"httpGet":{"path":"/health","port":8080}},"livenessProbe":{"httpGet":{"path":"/health","port":8080}}`, ``, 1)))
	}, false},
	ruleCase{"K8S-POD-004", "no liveness probe", func(b *builder) {
		api(b, `,"livenessProbe":{"httpGet":{"path":"/health","port":8080}}`, ``)
	}, true},
	ruleCase{"K8S-POD-004", "unprobed sidecar", func(b *builder) {
		api(b, `"containers":[`, `"initContainers":[{"name":"proxy","image":"envoy:1.36.0","restartPolicy":"Always"}],"containers":[`)
	}, true},
	// K8S-POD-005
	ruleCase{"K8S-POD-005", "restricted", func(b *builder) { api(b, "", "") }, false},
	ruleCase{"K8S-POD-005", "capabilities kept", func(b *builder) { api(b, `,"capabilities":{"drop":["ALL"]}`, ``) }, true},
	ruleCase{"K8S-POD-005", "capability added", func(b *builder) {
		api(b, `"capabilities":{"drop":["ALL"]}`, `"capabilities":{"drop":["ALL"],"add":["NET_ADMIN"]}`)
	}, true},
	ruleCase{"K8S-POD-005", "no seccomp profile", func(b *builder) { api(b, `,"seccompProfile":{"type":"RuntimeDefault"}`, ``) }, true},
	// K8S-IMG-001
	ruleCase{"K8S-IMG-001", "tag and digest", func(b *builder) {
		api(b, "", "")
		b.add(deploymentType, "pinned", deployment("pinned", 1, strings.Replace(goodPod, "example/api:1.2.3", "registry:5000/api@sha256:"+strings.Repeat("ab", 32), 1)))
	}, false},
	ruleCase{"K8S-IMG-001", "latest", func(b *builder) { api(b, "example/api:1.2.3", "example/api:latest") }, true},
	ruleCase{"K8S-IMG-001", "no tag behind a registry port", func(b *builder) { api(b, "example/api:1.2.3", "registry:5000/api") }, true},
	ruleCase{"K8S-IMG-001", "image unknown", func(b *builder) { api(b, "example/api:1.2.3", "[unknown]") }, true},
	// K8S-IMG-002
	ruleCase{"K8S-IMG-002", "gateway by digest, others by tag", func(b *builder) {
		api(b, "", "")
		b.add(deploymentType, "gateway", deployment("gateway", 1, strings.Replace(goodPod, "example/api:1.2.3",
			"123456789012.dkr.ecr.us-east-1.amazonaws.com/stackauth-prod/ratelimit@sha256:"+strings.Repeat("cd", 32), 1)))
	}, false},
	ruleCase{"K8S-IMG-002", "gateway by tag", func(b *builder) {
		b.add(deploymentType, "gateway", deployment("gateway", 1, strings.Replace(goodPod, "example/api:1.2.3",
			"123456789012.dkr.ecr.us-east-1.amazonaws.com/stackauth-prod/ratelimit:1.4.0", 1)))
	}, true},
	ruleCase{"K8S-IMG-002", "local stack runs the user's tagged image", func(b *builder) {
		b.p.Config["stackauth:cloud"] = "local"
		b.add(deploymentType, "gateway", deployment("gateway", 1, strings.Replace(goodPod, "example/api:1.2.3", "localhost:5001/stackauth/ratelimit:dev", 1)))
	}, false},
	ruleCase{"K8S-IMG-002", "gateway known by its labels", func(b *builder) {
		b.add(deploymentType, "gateway", deployment("gateway", 1, strings.Replace(goodPod, `{"app":"api"}`, `{"app.kubernetes.io/name":"ratelimit-gateway"}`, 1)))
	}, true},
	// K8S-NET-001
	ruleCase{"K8S-NET-001", "one policy denies both ways", func(b *builder) {
		b.p.Outputs["namespace"] = "app"
		b.add(nsType, "app", `{"metadata":{"name":"app"}}`)
		b.add(npType, "deny", `{"metadata":{"name":"deny","namespace":"app"},"spec":{"podSelector":{},"policyTypes":["Ingress","Egress"]}}`)
	}, false},
	ruleCase{"K8S-NET-001", "two policies, one per direction", func(b *builder) {
		b.p.Outputs["namespace"] = "app"
		api(b, "", "")
		b.add(npType, "deny-in", `{"metadata":{"name":"deny-in","namespace":"app"},"spec":{"podSelector":{}}}`)
		b.add(npType, "deny-out", `{"metadata":{"name":"deny-out","namespace":"app"},"spec":{"podSelector":{},"policyTypes":["Egress"]}}`)
	}, false},
	ruleCase{"K8S-NET-001", "the app namespace is not in this stack", func(b *builder) { b.p.Outputs["namespace"] = "app" }, false},
	ruleCase{"K8S-NET-001", "namespace without a policy", func(b *builder) {
		b.p.Outputs["namespace"] = "app"
		b.add(nsType, "app", `{"metadata":{"name":"app"}}`)
	}, true},
	ruleCase{"K8S-NET-001", "deny limited to some pods", func(b *builder) {
		b.p.Outputs["namespace"] = "app"
		api(b, "", "")
		b.add(npType, "deny", `{"metadata":{"name":"deny","namespace":"app"},"spec":{"podSelector":{"matchLabels":{"app":"api"}},"policyTypes":["Ingress","Egress"]}}`)
	}, true},
	ruleCase{"K8S-NET-001", "ingress denied, egress open", func(b *builder) {
		b.p.Outputs["namespace"] = "app"
		api(b, "", "")
		b.add(npType, "deny", `{"metadata":{"name":"deny","namespace":"app"},"spec":{"podSelector":{}}}`)
	}, true},
	ruleCase{"K8S-NET-001", "a policy in another namespace", func(b *builder) {
		b.p.Outputs["namespace"] = "app"
		api(b, "", "")
		b.add(npType, "deny", `{"metadata":{"name":"deny","namespace":"other"},"spec":{"podSelector":{},"policyTypes":["Ingress","Egress"]}}`)
	}, true},
	// K8S-PDB-001
	ruleCase{"K8S-PDB-001", "three replicas with a budget, one without", func(b *builder) {
		b.add(deploymentType, "api", deployment("api", 3, goodPod))
		b.add(pdbType, "api", `{"metadata":{"name":"api","namespace":"app"},"spec":{"maxUnavailable":1,"selector":{"matchLabels":{"app":"api"}}}}`)
		b.add(deploymentType, "single", deployment("single", 1, strings.Replace(goodPod, `"app":"api"`, `"app":"single"`, 1)))
	}, false},
	ruleCase{"K8S-PDB-001", "three replicas without a budget", func(b *builder) { b.add(deploymentType, "api", deployment("api", 3, goodPod)) }, true},
	ruleCase{"K8S-PDB-001", "HPA minimum of two without a budget", func(b *builder) {
		b.add(deploymentType, "api", `{"metadata":{"name":"api","namespace":"app"},"spec":{"selector":{"matchLabels":{"app":"api"}},"template":`+goodPod+`}}`)
		b.add("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "api", `{"metadata":{"name":"api","namespace":"app"},"spec":{"minReplicas":2,"maxReplicas":4,"scaleTargetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"api"}}}`)
	}, true},
	ruleCase{"K8S-PDB-001", "budget in another namespace", func(b *builder) {
		b.add(deploymentType, "api", deployment("api", 3, goodPod))
		b.add(pdbType, "api", `{"metadata":{"name":"api","namespace":"other"},"spec":{"maxUnavailable":1,"selector":{"matchLabels":{"app":"api"}}}}`)
	}, true},
	ruleCase{"K8S-PDB-001", "budget that blocks drains", func(b *builder) {
		b.add(deploymentType, "api", deployment("api", 3, goodPod))
		b.add(pdbType, "api", `{"metadata":{"name":"api","namespace":"app"},"spec":{"maxUnavailable":0,"selector":{"matchLabels":{"app":"api"}}}}`)
	}, true},
	ruleCase{"K8S-PDB-001", "minAvailable equal to the replicas", func(b *builder) {
		b.add(deploymentType, "api", deployment("api", 3, goodPod))
		b.add(pdbType, "api", `{"metadata":{"name":"api","namespace":"app"},"spec":{"minAvailable":3,"selector":{"matchLabels":{"app":"api"}}}}`)
	}, true},
	// K8S-SVC-001
	ruleCase{"K8S-SVC-001", "public 443, internal admin port, restricted sources", func(b *builder) {
		b.add("kubernetes:core/v1:Service", "edge", `{"metadata":{"name":"edge"},"spec":{"type":"LoadBalancer","ports":[{"name":"https","port":443},{"name":"http","port":80}]}}`)
		b.add("kubernetes:core/v1:Service", "admin", `{"metadata":{"name":"admin","annotations":{"service.beta.kubernetes.io/aws-load-balancer-scheme":"internal"}},"spec":{"type":"LoadBalancer","ports":[{"port":9090}]}}`)
		b.add("kubernetes:core/v1:Service", "vpn", `{"metadata":{"name":"vpn"},"spec":{"type":"LoadBalancer","loadBalancerSourceRanges":["203.0.113.0/24"],"ports":[{"port":8443}]}}`)
		b.add("kubernetes:core/v1:Service", "cluster", `{"metadata":{"name":"cluster"},"spec":{"ports":[{"port":5432}]}}`)
	}, false},
	ruleCase{"K8S-SVC-001", "Gateway on web ports behind a public NLB, admin listener behind an internal one", func(b *builder) {
		envoyProxy(b, "public", "internet-facing")
		envoyProxy(b, "internal", "internal")
		b.add("kubernetes:gateway.networking.k8s.io/v1:GatewayClass", "public", `{"metadata":{"name":"public"},"spec":{"parametersRef":{"group":"gateway.envoyproxy.io","kind":"EnvoyProxy","name":"public","namespace":"edge"}}}`)
		gateway(b, "edge", "public", `{"name":"https","port":443},{"name":"http","port":80}`, "")
		gateway(b, "admin", "public", `{"name":"admin","port":9901}`, `,"infrastructure":{"parametersRef":{"group":"gateway.envoyproxy.io","kind":"EnvoyProxy","name":"internal"}}`)
	}, false},
	ruleCase{"K8S-SVC-001", "Gateway admin listener behind the public NLB", func(b *builder) {
		envoyProxy(b, "public", "internet-facing")
		b.add("kubernetes:gateway.networking.k8s.io/v1:GatewayClass", "public", `{"metadata":{"name":"public"},"spec":{"parametersRef":{"group":"gateway.envoyproxy.io","kind":"EnvoyProxy","name":"public","namespace":"edge"}}}`)
		gateway(b, "edge", "public", `{"name":"https","port":443},{"name":"admin","port":9901}`, "")
	}, true},
	ruleCase{"K8S-SVC-001", "Gateway without an EnvoyProxy gets a plain load balancer", func(b *builder) {
		gateway(b, "edge", "bare", `{"name":"ssh","port":22}`, "")
	}, true},
	ruleCase{"K8S-SVC-001", "public admin port", func(b *builder) {
		b.add("kubernetes:core/v1:Service", "edge", `{"metadata":{"name":"edge"},"spec":{"type":"LoadBalancer","ports":[{"name":"admin","port":9090}]}}`)
	}, true},
	ruleCase{"K8S-SVC-001", "source ranges that include everyone", func(b *builder) {
		b.add("kubernetes:core/v1:Service", "edge", `{"metadata":{"name":"edge"},"spec":{"type":"LoadBalancer","loadBalancerSourceRanges":["0.0.0.0/0"],"ports":[{"port":22}]}}`)
	}, true},
	// K8S-CRD-001
	ruleCase{"K8S-CRD-001", "after the release with CRDs, and an unknown group after any release", func(b *builder) {
		cm := b.add(helmRelease, "cert-manager", `{"chart":"cert-manager","repositoryOpts":{"repo":"https://charts.jetstack.io"},"version":"v1.19.1","values":{"crds":{"enabled":true}}}`)
		b.add("kubernetes:cert-manager.io/v1:ClusterIssuer", "letsencrypt", `{"metadata":{"name":"letsencrypt"},"spec":{}}`, after(cm))
		other := b.add(helmRelease, "widgets", `{"chart":"widgets","repositoryOpts":{"repo":"https://example.com/charts"},"version":"1.0.0"}`)
		b.add("kubernetes:widgets.example.com/v1:Widget", "w", `{"metadata":{"name":"w"}}`, after(other))
		crd := b.add("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition", "gadgets", `{"spec":{"group":"gadgets.example.com","names":{"kind":"Gadget"}}}`)
		b.add("kubernetes:gadgets.example.com/v1:Gadget", "g", `{"metadata":{"name":"g"}}`, after(crd))
	}, false},
	ruleCase{"K8S-CRD-001", "no dependency", func(b *builder) {
		b.add(helmRelease, "cert-manager", `{"chart":"cert-manager","repositoryOpts":{"repo":"https://charts.jetstack.io"},"version":"v1.19.1","values":{"crds":{"enabled":true}}}`)
		b.add("kubernetes:cert-manager.io/v1:ClusterIssuer", "letsencrypt", `{"metadata":{"name":"letsencrypt"},"spec":{}}`)
	}, true},
	ruleCase{"K8S-CRD-001", "after a release that does not install the CRDs", func(b *builder) {
		cm := b.add(helmRelease, "cert-manager", `{"chart":"cert-manager","repositoryOpts":{"repo":"https://charts.jetstack.io"},"version":"v1.19.1","values":{}}`)
		b.add("kubernetes:cert-manager.io/v1:ClusterIssuer", "letsencrypt", `{"metadata":{"name":"letsencrypt"},"spec":{}}`, after(cm))
	}, true},
	ruleCase{"K8S-CRD-001", "after the wrong release", func(b *builder) {
		eso := b.add(helmRelease, "external-secrets", `{"chart":"external-secrets","repositoryOpts":{"repo":"https://charts.external-secrets.io"},"version":"0.20.4"}`)
		serviceMonitor(`{"release":"monitoring"}`, after(eso))(b)
	}, true},
	// K8S-MON-001
	ruleCase{"K8S-MON-001", "labelled for the release", func(b *builder) {
		m := monitoringRelease(`{}`)(b)
		serviceMonitor(`{"release":"monitoring"}`, after(m))(b)
	}, false},
	ruleCase{"K8S-MON-001", "selector set in values", func(b *builder) {
		m := monitoringRelease(`{"prometheus":{"prometheusSpec":{"serviceMonitorSelector":{"matchLabels":{"team":"platform"}}}}}`)(b)
		serviceMonitor(`{"team":"platform"}`, after(m))(b)
	}, false},
	ruleCase{"K8S-MON-001", "selector turned off in values", func(b *builder) {
		m := monitoringRelease(`{"prometheus":{"prometheusSpec":{"serviceMonitorSelectorNilUsesHelmValues":false}}}`)(b)
		serviceMonitor(`{}`, after(m))(b)
	}, false},
	ruleCase{"K8S-MON-001", "missing the release label", func(b *builder) {
		m := monitoringRelease(`{}`)(b)
		serviceMonitor(`{"app":"gateway"}`, after(m))(b)
	}, true},
	ruleCase{"K8S-MON-001", "namespace the selector leaves out", func(b *builder) {
		m := monitoringRelease(`{"prometheus":{"prometheusSpec":{"serviceMonitorNamespaceSelector":{"matchLabels":{"monitored":"true"}}}}}`)(b)
		serviceMonitor(`{"release":"monitoring"}`, after(m))(b)
	}, true},
	ruleCase{"K8S-MON-001", "no Prometheus at all", func(b *builder) { serviceMonitor(`{"release":"monitoring"}`)(b) }, true},
	ruleCase{"K8S-MON-001", "Prometheus resource without a selector selects nothing", func(b *builder) {
		b.add("kubernetes:monitoring.coreos.com/v1:Prometheus", "p", `{"metadata":{"name":"p","namespace":"app"},"spec":{}}`)
		serviceMonitor(`{"release":"monitoring"}`)(b)
	}, true},
	// K8S-HELM-001
	ruleCase{"K8S-HELM-001", "exact versions and a local chart", func(b *builder) {
		monitoringRelease(`{}`)(b)
		b.add(helmRelease, "gateway", `{"chart":"oci://docker.io/envoyproxy/gateway-helm","version":"v1.6.0"}`)
		b.add(helmRelease, "app", `{"chart":"charts/hardened"}`)
	}, false},
	ruleCase{"K8S-HELM-001", "no version", func(b *builder) {
		b.add(helmRelease, "gateway", `{"chart":"oci://docker.io/envoyproxy/gateway-helm"}`)
	}, true},
	ruleCase{"K8S-HELM-001", "a version range", func(b *builder) {
		b.add(helmRelease, "cm", `{"chart":"cert-manager","repositoryOpts":{"repo":"https://charts.jetstack.io"},"version":"^1.19"}`)
	}, true},
)

// A local chart's objects are checked like registered ones, and findings
// name the release and the object it renders.
func TestRenderedChartObjectsAreChecked(t *testing.T) {
	b := newPlan()
	b.p.Outputs["namespace"] = "app"
	b.add(helmRelease, "bare", `{"name":"bare","namespace":"app","chart":"charts/bare","values":{"replicas":3}}`)
	rep := Evaluate(&b.p, Options{Dir: "testdata"})
	got := map[string]bool{}
	for _, f := range rep.Findings {
		got[f.Rule] = true
		if !strings.HasPrefix(f.Resource, "kubernetes:helm.sh/v3:Release::bare renders Deployment app/bare") && f.Resource != "namespace app" {
			t.Errorf("finding on %q, want it on the rendered Deployment", f.Resource)
		}
	}
	for _, rule := range []string{"K8S-POD-001", "K8S-POD-002", "K8S-POD-003", "K8S-POD-004", "K8S-POD-005", "K8S-IMG-001", "K8S-PDB-001", "K8S-NET-001"} {
		if !got[rule] {
			t.Errorf("%s did not fire on the bare chart's Deployment", rule)
		}
	}
	if rep.Objects != 1 {
		t.Errorf("%d objects, want the one Deployment the chart renders", rep.Objects)
	}

	hardened := newPlan()
	hardened.p.Outputs["namespace"] = "app"
	hardened.add(helmRelease, "demo", `{"name":"demo","namespace":"app","chart":"charts/hardened","values":{}}`)
	rep = Evaluate(&hardened.p, Options{Dir: "testdata"})
	if len(rep.Findings) > 0 || rep.Objects != 3 {
		t.Errorf("hardened chart: %d objects, findings %v; want 3 objects and none", rep.Objects, rep.Findings)
	}
}
