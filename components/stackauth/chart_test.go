package stackauth

import (
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// prodArgs is shaped like the prod stack: the guide's HPA of 5..50 and the 2.8.39 image.
func prodArgs() Args {
	return Args{
		Namespace:     "stack-auth-prod",
		Image:         Image{Repository: "stackauth/server", Tag: "2.8.39"},
		APIHost:       "api.auth.example.com",
		DashboardHost: "dashboard.auth.example.com",
		Replicas:      ReplicaBounds{Min: 5, Max: 50},
		Resources: Resources{
			Requests: ResourceList{CPU: "1", Memory: "2Gi"},
			Limits:   ResourceList{CPU: "2", Memory: "8Gi"},
		},
		ExtraEnv:         map[string]string{"NODE_OPTIONS": "--max-old-space-size=4096"},
		GatewayPodLabels: map[string]string{"app.kubernetes.io/name": "ratelimit", "app.kubernetes.io/instance": "ratelimit"},
		EdgeNamespace:    "envoy-gateway-system",
		DatabaseCIDRs:    []string{"10.0.96.0/20", "10.0.112.0/20", "10.0.128.0/20"},
		EmailPort:        465,
	}
}

// stagingArgs is shaped like staging: fewer, smaller pods, its own release and secret names.
func stagingArgs() Args {
	return Args{
		Namespace:     "stack-auth-staging",
		ReleaseName:   "stack-backend-staging",
		Image:         Image{Repository: "stackauth/server", Tag: "2.8.39"},
		APIHost:       "api.staging.example.com",
		DashboardHost: "dashboard.staging.example.com",
		Replicas:      ReplicaBounds{Min: 2, Max: 4},
		Resources: Resources{
			Requests: ResourceList{CPU: "250m", Memory: "1Gi"},
			Limits:   ResourceList{CPU: "1", Memory: "2Gi"},
		},
		GatewayPodLabels: map[string]string{"app.kubernetes.io/name": "ratelimit"},
		EdgeNamespace:    "edge",
		DatabaseCIDRs:    []string{"10.1.96.0/20"},
		DatabasePort:     6432,
		SecretName:       "stack-staging-secrets",
		TimeoutSeconds:   600,
	}
}

// renderArgs computes the values for args and renders and strictly decodes the chart with them.
func renderArgs(t *testing.T, a Args) []manifest {
	t.Helper()
	values, err := ChartValues(a)
	if err != nil {
		t.Fatalf("ChartValues: %v", err)
	}
	rendered, err := renderChart(t, a, values)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return decodeAll(t, rendered)
}

func TestChartRendersStrictlyForProdAndStaging(t *testing.T) {
	for name, args := range map[string]Args{"prod": prodArgs(), "staging": stagingArgs()} {
		t.Run(name, func(t *testing.T) {
			a := args.withDefaults()
			objects := renderArgs(t, args)

			kinds := map[string]int{}
			for _, m := range objects {
				kinds[m.kind]++
				if ns := objectNamespace(m.object); ns != a.Namespace {
					t.Errorf("%s from %s is in namespace %q, want %q", m.kind, m.source, ns, a.Namespace)
				}
			}
			want := map[string]int{"Deployment": 1, "Service": 1, "ServiceAccount": 1, "HorizontalPodAutoscaler": 1,
				"PodDisruptionBudget": 1, "Job": 1, "CronJob": 1, "NetworkPolicy": 5}
			for kind, n := range want {
				if kinds[kind] != n {
					t.Errorf("rendered %d %s, want %d (all kinds: %v)", kinds[kind], kind, n, kinds)
				}
			}
			if len(kinds) != len(want) {
				t.Errorf("rendered kinds %v, want exactly %v", kinds, want)
			}

			deploy := only[appsv1.Deployment](t, objects)
			checkDeployment(t, a, deploy, only[corev1.ServiceAccount](t, objects))
			checkService(t, a, only[corev1.Service](t, objects), deploy)
			checkHPA(t, a, only[autoscalingv2.HorizontalPodAutoscaler](t, objects), deploy)
			checkPDB(t, only[policyv1.PodDisruptionBudget](t, objects), deploy)
			checkMigrationJob(t, a, only[batchv1.Job](t, objects), deploy)
			checkCronJob(t, a, only[batchv1.CronJob](t, objects))
			checkNetworkPolicies(t, a, objects)
			checkNoSecretInPodSpecs(t, objects)
		})
	}
}

func objectNamespace(obj any) string {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return o.Namespace
	case *corev1.Service:
		return o.Namespace
	case *corev1.ServiceAccount:
		return o.Namespace
	case *autoscalingv2.HorizontalPodAutoscaler:
		return o.Namespace
	case *policyv1.PodDisruptionBudget:
		return o.Namespace
	case *batchv1.Job:
		return o.Namespace
	case *batchv1.CronJob:
		return o.Namespace
	case *networkingv1.NetworkPolicy:
		return o.Namespace
	}
	return ""
}

func envValue(env []corev1.EnvVar, name string) (string, bool) {
	for _, e := range env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

func checkDeployment(t *testing.T, a Args, d *appsv1.Deployment, sa *corev1.ServiceAccount) {
	t.Helper()
	if d.Spec.Replicas != nil {
		t.Errorf("Deployment sets replicas %d; the HPA must own the count", *d.Spec.Replicas)
	}
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("Deployment has %d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if want := a.Image.Repository + ":" + a.Image.Tag; c.Image != want {
		t.Errorf("image %q, want %q", c.Image, want)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["api"] != APIPort || ports["dashboard"] != DashboardPort || len(ports) != 2 {
		t.Errorf("container ports %v, want api=%d dashboard=%d", ports, APIPort, DashboardPort)
	}
	for name, probe := range map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if probe == nil || probe.HTTPGet == nil {
			t.Errorf("%s probe missing or not HTTP", name)
			continue
		}
		port := probe.HTTPGet.Port.IntVal
		if probe.HTTPGet.Port.StrVal != "" {
			port = ports[probe.HTTPGet.Port.StrVal]
		}
		if probe.HTTPGet.Path != "/health" || port != APIPort {
			t.Errorf("%s probe GET %s on port %d, want /health on %d", name, probe.HTTPGet.Path, port, APIPort)
		}
	}
	if p := c.StartupProbe; p != nil && p.PeriodSeconds*p.FailureThreshold < 120 {
		t.Errorf("startup probe allows %d s; the entrypoint's copy into /var/tmp needs minutes", p.PeriodSeconds*p.FailureThreshold)
	}

	psc, sc := pod.SecurityContext, c.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("pod securityContext %+v: want runAsNonRoot and a numeric non-zero runAsUser", psc)
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod seccomp profile not RuntimeDefault")
	}
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("root filesystem not read-only")
	}
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("allowPrivilegeEscalation not false")
	}
	if sc == nil || sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) != 0 {
		t.Errorf("capabilities %+v, want drop [ALL] and nothing added", sc.Capabilities)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("pod mounts a service account token")
	}
	if pod.ServiceAccountName != sa.Name || sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Errorf("pod uses ServiceAccount %q; rendered %q (automount %v)", pod.ServiceAccountName, sa.Name, sa.AutomountServiceAccountToken)
	}

	emptyDirs := map[string]bool{}
	for _, v := range pod.Volumes {
		if v.EmptyDir != nil && v.EmptyDir.SizeLimit != nil {
			emptyDirs[v.Name] = true
		}
	}
	mounted := map[string]bool{}
	for _, m := range c.VolumeMounts {
		if emptyDirs[m.Name] && !m.ReadOnly {
			mounted[m.MountPath] = true
		}
	}
	if !mounted["/var/tmp"] || !mounted["/tmp"] {
		t.Errorf("writable emptyDir mounts %v, want /var/tmp and /tmp", mounted)
	}

	if len(c.EnvFrom) != 1 || c.EnvFrom[0].SecretRef == nil || c.EnvFrom[0].SecretRef.Name != a.SecretName {
		t.Errorf("envFrom %+v, want only the Secret %q", c.EnvFrom, a.SecretName)
	}
	wantEnv := map[string]string{
		"STACK_SKIP_MIGRATIONS":           "true",
		"STACK_SKIP_SEED_SCRIPT":          "true",
		"NEXT_PUBLIC_STACK_API_URL":       "https://" + a.APIHost,
		"NEXT_PUBLIC_STACK_DASHBOARD_URL": "https://" + a.DashboardHost,
	}
	for k, v := range a.ExtraEnv {
		wantEnv[k] = v
	}
	for name, want := range wantEnv {
		if got, ok := envValue(c.Env, name); !ok || got != want {
			t.Errorf("env %s = %q (set %v), want %q", name, got, ok, want)
		}
	}

	wantResources := map[string]string{
		"requests.cpu": a.Resources.Requests.CPU, "requests.memory": a.Resources.Requests.Memory,
		"limits.cpu": a.Resources.Limits.CPU, "limits.memory": a.Resources.Limits.Memory,
	}
	gotResources := map[string]resource.Quantity{
		"requests.cpu": c.Resources.Requests[corev1.ResourceCPU], "requests.memory": c.Resources.Requests[corev1.ResourceMemory],
		"limits.cpu": c.Resources.Limits[corev1.ResourceCPU], "limits.memory": c.Resources.Limits[corev1.ResourceMemory],
	}
	for key, want := range wantResources {
		got := gotResources[key]
		if got.Cmp(resource.MustParse(want)) != 0 {
			t.Errorf("resources %s = %s, want %s", key, got.String(), want)
		}
	}

	spread := map[string]bool{}
	for _, c := range pod.TopologySpreadConstraints {
		if selects(t, c.LabelSelector, d.Spec.Template.Labels) {
			spread[c.TopologyKey] = true
		}
	}
	if !spread["topology.kubernetes.io/zone"] || !spread["kubernetes.io/hostname"] {
		t.Errorf("topology spread over %v, want zones and hosts", spread)
	}
	if !selects(t, d.Spec.Selector, d.Spec.Template.Labels) {
		t.Errorf("Deployment selector %v does not match its pods %v", d.Spec.Selector, d.Spec.Template.Labels)
	}
}

func checkService(t *testing.T, a Args, s *corev1.Service, d *appsv1.Deployment) {
	t.Helper()
	if s.Name != a.ReleaseName {
		t.Errorf("Service %q, but the component exports %q", s.Name, a.ReleaseName)
	}
	ports := map[string]int32{}
	for _, p := range s.Spec.Ports {
		ports[p.Name] = p.Port
		if p.TargetPort.StrVal != p.Name {
			t.Errorf("Service port %s targets %v, want the container port of that name", p.Name, p.TargetPort)
		}
	}
	if ports["api"] != APIPort || ports["dashboard"] != DashboardPort {
		t.Errorf("Service ports %v, want api=%d dashboard=%d", ports, APIPort, DashboardPort)
	}
	if !labelsMatch(s.Spec.Selector, d.Spec.Template.Labels) {
		t.Errorf("Service selector %v does not match the server pods %v", s.Spec.Selector, d.Spec.Template.Labels)
	}
	if !labelsMatch(ServerPodLabels(a.ReleaseName), d.Spec.Template.Labels) {
		t.Errorf("exported ServerPodLabels %v do not match the server pods %v", ServerPodLabels(a.ReleaseName), d.Spec.Template.Labels)
	}
}

// labelsMatch reports whether every key of sel has the same value in set (an equality selector).
func labelsMatch(sel, set map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if set[k] != v {
			return false
		}
	}
	return true
}

func checkHPA(t *testing.T, a Args, h *autoscalingv2.HorizontalPodAutoscaler, d *appsv1.Deployment) {
	t.Helper()
	if h.Spec.MinReplicas == nil || int(*h.Spec.MinReplicas) != a.Replicas.Min || int(h.Spec.MaxReplicas) != a.Replicas.Max {
		t.Errorf("HPA bounds %v..%d, want %d..%d", h.Spec.MinReplicas, h.Spec.MaxReplicas, a.Replicas.Min, a.Replicas.Max)
	}
	ref := h.Spec.ScaleTargetRef
	if ref.Kind != "Deployment" || ref.Name != d.Name || ref.APIVersion != "apps/v1" {
		t.Errorf("HPA scales %+v, want the Deployment %q", ref, d.Name)
	}
	metrics := map[corev1.ResourceName]int32{}
	for _, m := range h.Spec.Metrics {
		if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Target.AverageUtilization != nil {
			metrics[m.Resource.Name] = *m.Resource.Target.AverageUtilization
		}
	}
	if metrics[corev1.ResourceCPU] == 0 || metrics[corev1.ResourceMemory] == 0 {
		t.Errorf("HPA utilisation targets %v, want cpu and memory", metrics)
	}
}

func checkPDB(t *testing.T, p *policyv1.PodDisruptionBudget, d *appsv1.Deployment) {
	t.Helper()
	if !selects(t, p.Spec.Selector, d.Spec.Template.Labels) {
		t.Errorf("PDB selector %v misses the server pods", p.Spec.Selector)
	}
	if p.Spec.MaxUnavailable == nil || p.Spec.MaxUnavailable.IntVal != 1 || p.Spec.MinAvailable != nil {
		t.Errorf("PDB maxUnavailable %v minAvailable %v, want maxUnavailable 1", p.Spec.MaxUnavailable, p.Spec.MinAvailable)
	}
}

func checkMigrationJob(t *testing.T, a Args, j *batchv1.Job, d *appsv1.Deployment) {
	t.Helper()
	if got := j.Annotations["helm.sh/hook"]; got != "pre-install,pre-upgrade" {
		t.Errorf("Job hook %q, want pre-install,pre-upgrade", got)
	}
	if got := j.Annotations["helm.sh/hook-delete-policy"]; got != "before-hook-creation,hook-succeeded" {
		t.Errorf("Job hook-delete-policy %q, want before-hook-creation,hook-succeeded", got)
	}
	if j.Spec.ActiveDeadlineSeconds == nil || int(*j.Spec.ActiveDeadlineSeconds) != a.TimeoutSeconds-migrationSlackSeconds {
		t.Errorf("Job deadline %v, want %d (release timeout less %d)", j.Spec.ActiveDeadlineSeconds, a.TimeoutSeconds-migrationSlackSeconds, migrationSlackSeconds)
	}
	pod := j.Spec.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever || len(pod.Containers) != 1 {
		t.Fatalf("Job pod restartPolicy %q with %d containers, want Never and 1", pod.RestartPolicy, len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.Image != d.Spec.Template.Spec.Containers[0].Image {
		t.Errorf("Job image %q differs from the Deployment's %q", c.Image, d.Spec.Template.Spec.Containers[0].Image)
	}
	// Overriding the entrypoint is what keeps the servers from starting: the image's entrypoint always starts them.
	script := strings.Join(c.Command, " ")
	if !strings.Contains(script, "db-migrations.mjs migrate") || !strings.Contains(script, "db-migrations.mjs seed") {
		t.Errorf("Job command %q does not run migrate and seed", script)
	}
	if strings.Contains(script, "entrypoint.sh") || strings.Contains(script, "server.js") {
		t.Errorf("Job command %q would start the servers", script)
	}
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].SecretRef == nil || c.EnvFrom[0].SecretRef.Name != a.SecretName {
		t.Errorf("Job envFrom %+v, want the Secret %q", c.EnvFrom, a.SecretName)
	}
	if got, _ := envValue(c.Env, "NEXT_PUBLIC_STACK_API_URL"); got != "https://"+a.APIHost {
		t.Errorf("Job NEXT_PUBLIC_STACK_API_URL %q", got)
	}
	server := d.Spec.Template.Spec.Containers[0]
	if !c.Resources.Limits.Memory().Equal(*server.Resources.Limits.Memory()) {
		t.Errorf("Job memory limit %s differs from the server's %s, which NODE_OPTIONS is sized for", c.Resources.Limits.Memory(), server.Resources.Limits.Memory())
	}
	for k, v := range a.ExtraEnv {
		if got, _ := envValue(c.Env, k); got != v {
			t.Errorf("Job env %s = %q, want %q", k, got, v)
		}
	}
	checkRestrictedPod(t, "Job", pod)
}

func checkCronJob(t *testing.T, a Args, cj *batchv1.CronJob) {
	t.Helper()
	if cj.Spec.Schedule != "* * * * *" || cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("CronJob schedule %q concurrency %q, want every minute and Forbid", cj.Spec.Schedule, cj.Spec.ConcurrencyPolicy)
	}
	pod := cj.Spec.JobTemplate.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("CronJob has %d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	repo, tag, _ := strings.Cut(c.Image, ":")
	if repo != "curlimages/curl" || tag == "" || tag == "latest" {
		t.Errorf("CronJob image %q, want curlimages/curl with a pinned tag", c.Image)
	}
	wantURL := "http://" + a.ReleaseName + "." + a.Namespace + ".svc:8102/api/latest/internal/email-queue-step"
	if got, _ := envValue(c.Env, "TARGET_URL"); got != wantURL {
		t.Errorf("CronJob TARGET_URL %q, want %q", got, wantURL)
	}
	var secretRef *corev1.SecretKeySelector
	for _, e := range c.Env {
		if e.Name == "CRON_SECRET" && e.ValueFrom != nil {
			secretRef = e.ValueFrom.SecretKeyRef
		}
	}
	if secretRef == nil || secretRef.Name != a.SecretName || secretRef.Key != "CRON_SECRET" {
		t.Errorf("CronJob CRON_SECRET from %+v, want key CRON_SECRET of Secret %q", secretRef, a.SecretName)
	}
	script := strings.Join(c.Command, " ")
	if !strings.Contains(script, `Authorization: Bearer %s`) || !strings.Contains(script, `"$CRON_SECRET"`) || !strings.Contains(script, "--header @-") {
		t.Errorf("CronJob command %q does not send Authorization: Bearer $CRON_SECRET via stdin", script)
	}
	if c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
		t.Errorf("CronJob resources %+v, want requests and limits", c.Resources)
	}
	checkRestrictedPod(t, "CronJob", pod)
}

// checkRestrictedPod asserts what Pod Security "restricted" asks of a pod, plus no token and a read-only root.
func checkRestrictedPod(t *testing.T, what string, pod corev1.PodSpec) {
	t.Helper()
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s pod securityContext %+v not restricted", what, psc)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("%s pod mounts a service account token", what)
	}
	for _, c := range pod.Containers {
		sc := c.SecurityContext
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
			t.Errorf("%s container %s securityContext %+v not restricted", what, c.Name, sc)
		}
		if c.Resources.Limits.Memory().IsZero() || c.Resources.Limits.Cpu().IsZero() {
			t.Errorf("%s container %s has no limits", what, c.Name)
		}
	}
}

func checkNetworkPolicies(t *testing.T, a Args, objects []manifest) {
	t.Helper()
	policies := all[networkingv1.NetworkPolicy](objects)
	ns := a.Namespace
	server := only[appsv1.Deployment](t, objects).Spec.Template.Labels
	migrations := only[batchv1.Job](t, objects).Spec.Template.Labels
	cron := only[batchv1.CronJob](t, objects).Spec.JobTemplate.Spec.Template.Labels

	gateway := peer{namespace: ns, podLabels: a.GatewayPodLabels}
	edgeProxy := peer{namespace: a.EdgeNamespace, podLabels: map[string]string{"app.kubernetes.io/name": "envoy"}}
	otherPod := peer{namespace: ns, podLabels: map[string]string{"app": "something-else"}}
	cronPeer := peer{namespace: ns, podLabels: cron}
	serverPeer := peer{namespace: ns, podLabels: server}
	kubeDNS := peer{namespace: "kube-system", podLabels: map[string]string{"k8s-app": "kube-dns"}}
	otherKubeSystem := peer{namespace: "kube-system", podLabels: map[string]string{"k8s-app": "metrics-server"}}
	database := peer{ip: strings.TrimSuffix(a.DatabaseCIDRs[0], "0/20") + "10"}
	internet := peer{ip: "203.0.113.7"}
	in, out := networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress
	smtpPort := int32(587) // the chart's default list holds 465 and 587
	if a.EmailPort != 0 {
		smtpPort = int32(a.EmailPort)
		if a.EmailPort != 587 && allowed(t, policies, ns, server, out, internet, 587) {
			t.Errorf("EmailPort %d set, yet egress to 587 is still open", a.EmailPort)
		}
	}

	cases := []struct {
		what string
		pod  map[string]string
		dir  networkingv1.PolicyType
		peer peer
		port int32
		want bool
	}{
		{"gateway -> API", server, in, gateway, APIPort, true},
		{"gateway -> dashboard", server, in, gateway, DashboardPort, false},
		{"cron -> API", server, in, cronPeer, APIPort, true},
		{"edge -> dashboard", server, in, edgeProxy, DashboardPort, true},
		{"edge -> API (must go through the gateway)", server, in, edgeProxy, APIPort, false},
		{"other pod -> API", server, in, otherPod, APIPort, false},
		{"other pod -> dashboard", server, in, otherPod, DashboardPort, false},
		{"server -> database", server, out, database, int32(a.DatabasePort), true},
		{"server -> database on another port", server, out, database, 22, false},
		{"server -> internet HTTPS", server, out, internet, 443, true},
		{"server -> internet SMTP", server, out, internet, smtpPort, true},
		{"server -> internet SMTP on a port the stack does not use", server, out, internet, 25, false},
		{"server -> internet SSH", server, out, internet, 22, false},
		{"server -> DNS", server, out, kubeDNS, 53, true},
		{"server -> other kube-system pod", server, out, otherKubeSystem, 53, false},
		{"migrations -> database", migrations, out, database, int32(a.DatabasePort), true},
		{"migrations -> internet HTTPS", migrations, out, internet, 443, false},
		{"migrations -> DNS", migrations, out, kubeDNS, 53, true},
		{"anyone -> migrations", migrations, in, otherPod, APIPort, false},
		{"cron -> server API", cron, out, serverPeer, APIPort, true},
		{"cron -> server dashboard", cron, out, serverPeer, DashboardPort, false},
		{"cron -> internet HTTPS", cron, out, internet, 443, false},
		{"cron -> database", cron, out, database, int32(a.DatabasePort), false},
		{"cron -> DNS", cron, out, kubeDNS, 53, true},
	}
	for _, c := range cases {
		if got := allowed(t, policies, ns, c.pod, c.dir, c.peer, c.port); got != c.want {
			t.Errorf("%s port %d: allowed=%v, want %v", c.what, c.port, got, c.want)
		}
	}
}

// checkNoSecretInPodSpecs asserts that every env var with a secret-looking name is read from a Secret.
func checkNoSecretInPodSpecs(t *testing.T, objects []manifest) {
	t.Helper()
	var pods []corev1.PodSpec
	for _, d := range all[appsv1.Deployment](objects) {
		pods = append(pods, d.Spec.Template.Spec)
	}
	for _, j := range all[batchv1.Job](objects) {
		pods = append(pods, j.Spec.Template.Spec)
	}
	for _, cj := range all[batchv1.CronJob](objects) {
		pods = append(pods, cj.Spec.JobTemplate.Spec.Template.Spec)
	}
	if len(pods) != 3 {
		t.Fatalf("found %d pod templates, want 3", len(pods))
	}
	for _, pod := range pods {
		for _, c := range pod.Containers {
			for _, e := range c.Env {
				if LooksSecret(e.Name) && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
					t.Errorf("container %s env %s looks secret but is not read from a Secret", c.Name, e.Name)
				}
			}
		}
	}
}

func TestChartLintsClean(t *testing.T) {
	chartDir := repoRoot(t) + "/" + DefaultChartDir
	prod, err := ChartValues(prodArgs())
	if err != nil {
		t.Fatal(err)
	}
	for name, values := range map[string]map[string]any{"chart defaults": nil, "prod values": prod} {
		linter := lint.RunAll(chartDir, values, "stack-auth-prod", lint.WithKubeVersion(&testKubeVersion))
		for _, msg := range linter.Messages {
			if msg.Severity >= support.WarningSev {
				t.Errorf("%s: lint: %v", name, msg)
			} else {
				t.Logf("%s: lint: %v", name, msg)
			}
		}
	}
}

func TestChartRefusesUnpinnedImageAndBadBounds(t *testing.T) {
	a := prodArgs()
	for _, c := range []struct {
		what   string
		modify func(values map[string]any)
		want   string
	}{
		{"latest tag", func(v map[string]any) { v["image"].(map[string]any)["tag"] = "latest" }, `image.tag is "latest"`},
		{"empty cron tag", func(v map[string]any) { v["cron"] = map[string]any{"image": map[string]any{"tag": ""}} }, `cron.image.tag is ""`},
		{"min above max", func(v map[string]any) { v["autoscaling"] = map[string]any{"minReplicas": 9, "maxReplicas": 3} }, "autoscaling.minReplicas (9) is above autoscaling.maxReplicas (3)"},
		{"reserved extra env", func(v map[string]any) { v["extraEnv"] = map[string]any{"STACK_SKIP_MIGRATIONS": "false"} }, "extraEnv.STACK_SKIP_MIGRATIONS is set by the chart itself"},
		{"no database CIDRs", func(v map[string]any) {
			v["networkPolicy"].(map[string]any)["database"] = map[string]any{"cidrs": []any{}}
		}, "networkPolicy.database.cidrs is empty"},
	} {
		values, err := ChartValues(a)
		if err != nil {
			t.Fatal(err)
		}
		c.modify(values)
		_, err = renderChart(t, a, values)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: render error %v, want one containing %q", c.what, err, c.want)
		}
	}
}

func TestStrictDecodeRejectsMisspeltField(t *testing.T) {
	values, err := ChartValues(prodArgs())
	if err != nil {
		t.Fatal(err)
	}
	rendered, err := renderChart(t, prodArgs(), values)
	if err != nil {
		t.Fatal(err)
	}
	doc := rendered["stack-backend/templates/deployment.yaml"]
	if !strings.Contains(doc, "imagePullPolicy:") {
		t.Fatalf("rendered Deployment has no imagePullPolicy to misspell:\n%s", doc)
	}
	if _, _, err := strictDecode([]byte(doc)); err != nil {
		t.Fatalf("the correct Deployment fails to decode: %v", err)
	}
	misspelt := strings.Replace(doc, "imagePullPolicy:", "imagePulPolicy:", 1)
	if _, _, err := strictDecode([]byte(misspelt)); err == nil || !strings.Contains(err.Error(), "imagePulPolicy") {
		t.Errorf("a misspelt field decoded without the error naming it: %v", err)
	}
}
