package tests

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/prometheus/promql/parser"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/stackauth-platform/infra/internal/k8svalidate"
	"github.com/stackauth-platform/infra/internal/plan"
)

const (
	monitorTypePrefix = "kubernetes:monitoring.coreos.com/v1:"
	externalSecretTyp = "kubernetes:external-secrets.io/v1:ExternalSecret"
)

// monitoringRelease is the kube-prometheus-stack release of a plan.
func monitoringRelease(t *testing.T, p *plan.Plan) plan.Resource {
	t.Helper()
	for _, r := range p.ByType(releaseType) {
		if in(r, "chart") == "kube-prometheus-stack" {
			return r
		}
	}
	t.Fatalf("%s: no kube-prometheus-stack release", p.Stack)
	return plan.Resource{}
}

// selector reads one of the release's label selectors (prometheus.prometheusSpec.<name>) as the operator would.
func selector(t *testing.T, release plan.Resource, name string) labels.Selector {
	t.Helper()
	var ls metav1.LabelSelector
	if err := k8svalidate.Strict(in(release, "values.prometheus.prometheusSpec."+name), &ls); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	s, err := metav1.LabelSelectorAsSelector(&ls)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return s
}

func TestMonitoringReleaseRetentionStorageAndGrafanaLogin(t *testing.T) {
	want := map[string]struct{ retention, storage string }{"prod": {"30d", "200Gi"}, "staging": {"15d", "50Gi"}}
	for _, stack := range stacks {
		r := monitoringRelease(t, preview(t, stack))
		expect(t, r, "repositoryOpts.repo", "https://prometheus-community.github.io/helm-charts")
		if v, _ := in(r, "version").(string); v == "" || strings.ContainsAny(v, "^~*x ") {
			t.Errorf("%s: kube-prometheus-stack version %q is not pinned", stack, v)
		}
		expect(t, r, "values.prometheus.prometheusSpec.retention", want[stack].retention)
		expect(t, r, "values.prometheus.prometheusSpec.storageSpec.volumeClaimTemplate.spec.storageClassName", "gp3")
		expect(t, r, "values.prometheus.prometheusSpec.storageSpec.volumeClaimTemplate.spec.resources.requests.storage", want[stack].storage)
		expect(t, r, "values.grafana.admin.existingSecret", "grafana-admin")
		if in(r, "values.grafana.adminPassword") != nil {
			t.Errorf("%s: grafana.adminPassword is set in values", stack)
		}
	}
}

func TestMonitorsAndRulesDecodeStrictlyAndAreSelected(t *testing.T) {
	for _, stack := range stacks {
		p := preview(t, stack)
		release := monitoringRelease(t, p)
		selectors := map[string]labels.Selector{
			"ServiceMonitor": selector(t, release, "serviceMonitorSelector"),
			"PodMonitor":     selector(t, release, "podMonitorSelector"),
			"PrometheusRule": selector(t, release, "ruleSelector"),
		}
		for _, ns := range []string{"serviceMonitorNamespaceSelector", "podMonitorNamespaceSelector", "ruleNamespaceSelector"} {
			if !selector(t, release, ns).Empty() {
				t.Errorf("%s: %s is not {} (all namespaces); the gateway's monitor lives in the app namespace", stack, ns)
			}
		}
		count := map[string]int{}
		for _, r := range p.Resources {
			kind, ok := strings.CutPrefix(r.Type, monitorTypePrefix)
			if !ok {
				continue
			}
			count[kind]++
			var into any
			switch kind {
			case "ServiceMonitor":
				into = &monitoringv1.ServiceMonitor{}
			case "PodMonitor":
				into = &monitoringv1.PodMonitor{}
			case "PrometheusRule":
				into = &monitoringv1.PrometheusRule{}
			default:
				t.Errorf("%s: %s %s: no test covers this kind", stack, kind, r.Name)
				continue
			}
			if err := k8svalidate.Strict(r.Inputs, into); err != nil {
				t.Errorf("%s: %s %s: %v", stack, kind, r.Name, err)
				continue
			}
			objectLabels, _ := in(r, "metadata.labels").(map[string]any)
			set := labels.Set{}
			for k, v := range objectLabels {
				set[k] = fmt.Sprint(v)
			}
			if !selectors[kind].Matches(set) {
				t.Errorf("%s: %s %s has labels %v; the Prometheus release selects %s", stack, kind, r.Name, set, selectors[kind])
			}
			if !dependsOn(r, release.URN) {
				t.Errorf("%s: %s %s does not depend on the release that installs its CRD", stack, kind, r.Name)
			}
			if sm, ok := into.(*monitoringv1.ServiceMonitor); ok {
				for _, ep := range sm.Spec.Endpoints {
					if ep.Interval != "15s" || ep.ScrapeTimeout != "10s" {
						t.Errorf("%s: ServiceMonitor %s scrapes every %q with timeout %q, want 15s / 10s", stack, r.Name, ep.Interval, ep.ScrapeTimeout)
					}
				}
			}
			if rule, ok := into.(*monitoringv1.PrometheusRule); ok {
				checkRules(t, stack, rule)
			}
		}
		// The gateway's (components/ratelimitgateway) and the two exporters'.
		for _, name := range []string{"ratelimit-gateway", "monitoring-postgres-exporter", "monitoring-redis-exporter"} {
			if _, ok := p.Find(monitorTypePrefix+"ServiceMonitor", name); !ok {
				t.Errorf("%s: no ServiceMonitor %s", stack, name)
			}
		}
		if count["PrometheusRule"] == 0 || count["PodMonitor"] == 0 {
			t.Errorf("%s: monitors and rules registered: %v", stack, count)
		}
	}
}

// checkRules parses every expression and checks the SLA alerts carry the guide's thresholds.
func checkRules(t *testing.T, stack string, rule *monitoringv1.PrometheusRule) {
	t.Helper()
	promql := parser.NewParser(parser.Options{})
	sla := map[string]string{
		"StackAuthLatencyP95High":          "histogram_quantile(0.95,",
		"StackAuthLatencyP99High":          "histogram_quantile(0.99,",
		"StackAuthErrorRateHigh":           "> 0.05",
		"StackAuthSignInLatencyHigh":       "> 1.5",
		"StackAuthTokenRefreshLatencyHigh": "> 0.5",
		"DatabaseConnectionsNearMax":       "> 400",
	}
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			if _, err := promql.ParseExpr(r.Expr.String()); err != nil {
				t.Errorf("%s: rule %s%s: %v", stack, r.Alert, r.Record, err)
			}
			if want, ok := sla[r.Alert]; ok {
				if !strings.Contains(r.Expr.String(), want) {
					t.Errorf("%s: %s is %q, want it to hold %q", stack, r.Alert, r.Expr.String(), want)
				}
				delete(sla, r.Alert)
			}
			if r.Alert != "" && !strings.HasPrefix(r.Annotations["runbook_url"], "https://") {
				t.Errorf("%s: %s has no runbook_url", stack, r.Alert)
			}
		}
	}
	for alert := range sla {
		t.Errorf("%s: no alert %s", stack, alert)
	}
}

func TestDashboardsAreProvisioned(t *testing.T) {
	for _, stack := range stacks {
		p := preview(t, stack)
		release := monitoringRelease(t, p)
		ids := map[float64]bool{}
		community, _ := in(release, "values.grafana.dashboards.community").(map[string]any)
		for _, d := range community {
			id, _ := d.(map[string]any)["gnetId"].(float64)
			ids[id] = true
		}
		for _, id := range []float64{15757, 9628, 11835} {
			if !ids[id] {
				t.Errorf("%s: Grafana does not provision dashboard %v (has %v)", stack, id, ids)
			}
		}
		if in(release, "values.grafana.dashboardProviders") == nil {
			t.Errorf("%s: dashboards by id need grafana.dashboardProviders", stack)
		}
		label := in(release, "values.grafana.sidecar.dashboards.label")
		namespace := in(release, "values.grafana.sidecar.dashboards.searchNamespace")

		cm := named(t, p, "kubernetes:core/v1:ConfigMap", "monitoring-dashboard")
		expect(t, cm, "metadata.namespace", namespace)
		expect(t, cm, fmt.Sprintf("metadata.labels.%s", label), "1")
		var dashboard struct {
			Panels []struct {
				Targets []struct{ Expr string } `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal([]byte(fmt.Sprint(in(cm, "data.stack-auth.json"))), &dashboard); err != nil || len(dashboard.Panels) == 0 {
			t.Fatalf("%s: the Stack Auth dashboard in the ConfigMap does not parse: %v", stack, err)
		}
		// The panels select the gateway's metrics by job: the name of the Service its ServiceMonitor scrapes.
		gatewayService := in(named(t, p, "kubernetes:core/v1:Service", "ratelimit-gateway"), "metadata.name")
		for _, panel := range dashboard.Panels {
			for _, q := range panel.Targets {
				if strings.Contains(q.Expr, "job=") && !strings.Contains(q.Expr, fmt.Sprintf("job=%q", gatewayService)) {
					t.Errorf("%s: dashboard query %q does not select job %q", stack, q.Expr, gatewayService)
				}
			}
		}

		edge := named(t, p, releaseType, "monitoring-edge-dashboards")
		expect(t, edge, "chart", "oci://docker.io/envoyproxy/gateway-addons-helm")
		expect(t, edge, "version", in(named(t, p, releaseType, "edge"), "version"))
		expect(t, edge, fmt.Sprintf("values.dashboard.labels.%s", label), "1")
		expect(t, edge, "values.grafana.enabled", false)
		expect(t, edge, "values.prometheus.enabled", false)
	}
}

func TestMonitoringReadsOnlyItsKeysThroughAStoreLimitedToItsNamespace(t *testing.T) {
	p := run(t, plan.Options{Stack: "prod"})
	store := one(t, p, "kubernetes:external-secrets.io/v1:ClusterSecretStore")
	expect(t, store, "spec.conditions.0.namespaces", []any{"monitoring"})
	expect(t, store, "spec.provider.aws.auth.jwt.serviceAccountRef.namespace", "stack-auth-prod")
	// The same Secrets Manager secret the app namespace syncs.
	secretARN := in(named(t, p, externalSecretTyp, "external-secrets-stack-backend-secrets"), "spec.data.0.remoteRef.key")
	if secretARN == nil {
		t.Fatal("the app ExternalSecret names no secret")
	}
	properties := map[string]bool{}
	for _, r := range p.ByType(externalSecretTyp) {
		if in(r, "metadata.namespace") != "monitoring" {
			continue
		}
		expect(t, r, "spec.secretStoreRef.kind", "ClusterSecretStore")
		if in(r, "spec.dataFrom") != nil {
			t.Errorf("ExternalSecret %s extracts the whole secret; name the keys it needs", r.Name)
		}
		data, _ := in(r, "spec.data").([]any)
		for i := range data {
			expect(t, r, fmt.Sprintf("spec.data.%d.remoteRef.key", i), secretARN)
			properties[fmt.Sprint(in(r, fmt.Sprintf("spec.data.%d.remoteRef.property", i)))] = true
		}
	}
	want := map[string]bool{"GRAFANA_ADMIN_PASSWORD": true, "STACK_DIRECT_DATABASE_CONNECTION_STRING": true, "REDIS_URL": true}
	if fmt.Sprint(properties) != fmt.Sprint(want) {
		t.Errorf("the monitoring namespace reads %v, want exactly %v", properties, want)
	}
}

func TestTracingFollowsEnableTelemetry(t *testing.T) {
	on := preview(t, "prod")
	collector := named(t, on, releaseType, "monitoring-collector")
	expect(t, collector, "values.mode", "deployment")
	expect(t, collector, "chart", "opentelemetry-collector")
	jaeger := named(t, on, "kubernetes:apps/v1:Deployment", "monitoring-jaeger")
	expect(t, jaeger, "spec.template.spec.securityContext.runAsNonRoot", true)
	if image, _ := in(jaeger, "spec.template.spec.containers.0.image").(string); !strings.Contains(image, ":") || strings.HasSuffix(image, ":latest") {
		t.Errorf("Jaeger image %q is not pinned", image)
	}

	off := run(t, plan.Options{Stack: "prod", Preview: true, Set: map[string]string{"stackauth:enableTelemetry": "false"}})
	for _, r := range off.Resources {
		if r.Name == "monitoring-collector" || r.Name == "monitoring-jaeger" {
			t.Errorf("enableTelemetry=false still deploys %s %s", r.Type, r.Name)
		}
	}
}
