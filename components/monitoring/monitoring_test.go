package monitoring

import (
	"bytes"
	"encoding/json"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/stackauth-platform/infra/components/k8sbase"
	"github.com/stackauth-platform/infra/internal/k8svalidate"
	"github.com/stackauth-platform/infra/ratelimit/rules"
)

var promql = parser.NewParser(parser.Options{})

func testRuleArgs() RuleArgs {
	return RuleArgs{
		GatewayJob:     "ratelimit-gateway",
		AppNamespace:   "stack-auth-prod",
		MaxConnections: 500,
		RunbookURL:     "https://github.com/stackauth-platform/infra/blob/main/README.md",
	}
}

func TestRuleGroupsDecodeStrictlyAndEveryExpressionParses(t *testing.T) {
	var spec monitoringv1.PrometheusRuleSpec
	if err := k8svalidate.Strict(map[string]any{"groups": RuleGroups(testRuleArgs())}, &spec); err != nil {
		t.Fatal(err)
	}
	alerts, records := 0, 0
	for _, g := range spec.Groups {
		for _, r := range g.Rules {
			expr, err := promql.ParseExpr(r.Expr.String())
			if err != nil {
				t.Errorf("%s%s: %q does not parse: %v", r.Alert, r.Record, r.Expr.String(), err)
				continue
			}
			if expr.Type() != parser.ValueTypeVector {
				t.Errorf("%s%s: %q is a %s, rules need an instant vector", r.Alert, r.Record, r.Expr.String(), expr.Type())
			}
			if r.Alert != "" {
				alerts++
				if r.Annotations["runbook_url"] == "" || r.Annotations["summary"] == "" || r.Labels["severity"] == "" || r.For == nil {
					t.Errorf("%s: needs summary, runbook_url, severity and for; got %+v", r.Alert, r)
				}
			} else {
				records++
			}
		}
	}
	if alerts < 11 || records != 2 {
		t.Errorf("%d alerts and %d recording rules; want the 11 of the README and the 2 recorded key metrics", alerts, records)
	}
}

// threshold reads the alert's "<lhs> > <number>" and, in the lhs, histogram_quantile's quantile and the route matcher.
func threshold(t *testing.T, expr string) (quantile float64, route string, limit float64) {
	t.Helper()
	e, err := promql.ParseExpr(expr)
	if err != nil {
		t.Fatal(err)
	}
	cmp, ok := e.(*parser.BinaryExpr)
	if !ok || cmp.Op != parser.GTR {
		t.Fatalf("%q is not a '>' comparison", expr)
	}
	limit = cmp.RHS.(*parser.NumberLiteral).Val
	parser.Inspect(cmp.LHS, func(n parser.Node, _ []parser.Node) error {
		switch x := n.(type) {
		case *parser.Call:
			if x.Func.Name == "histogram_quantile" {
				quantile = x.Args[0].(*parser.NumberLiteral).Val
			}
		case *parser.VectorSelector:
			for _, m := range x.LabelMatchers {
				if m.Name == "route" {
					route = m.Value
				}
			}
		}
		return nil
	})
	return quantile, route, limit
}

func TestSLAAlertsHaveTheGuidesThresholds(t *testing.T) {
	want := map[string]struct {
		quantile float64
		route    string
		limit    float64
	}{
		"StackAuthLatencyP95High":          {0.95, "", 2},
		"StackAuthLatencyP99High":          {0.99, "", 5},
		"StackAuthErrorRateHigh":           {0, "", 0.05},
		"StackAuthSignInLatencyHigh":       {0.95, "/api/v1/auth/password/sign-in", 1.5},
		"StackAuthTokenRefreshLatencyHigh": {0.95, "/api/v1/auth/sessions/current/refresh", 0.5},
	}
	seen := 0
	for _, a := range Alerts(testRuleArgs()) {
		w, ok := want[a.Name]
		if !ok {
			continue
		}
		seen++
		q, route, limit := threshold(t, a.Expr)
		if q != w.quantile || route != w.route || limit != w.limit {
			t.Errorf("%s: quantile %v route %q threshold %v; want %v %q %v (%s)", a.Name, q, route, limit, w.quantile, w.route, w.limit, a.Expr)
		}
	}
	if seen != len(want) {
		t.Errorf("found %d of the %d SLA alerts", seen, len(want))
	}
}

func TestDatabaseAlertFollowsMaxConnections(t *testing.T) {
	for _, max := range []int{500, 1200} {
		args := testRuleArgs()
		args.MaxConnections = max
		for _, a := range Alerts(args) {
			if a.Name != "DatabaseConnectionsNearMax" {
				continue
			}
			if _, _, limit := threshold(t, a.Expr); limit != float64(max*8/10) {
				t.Errorf("max_connections %d: alert fires above %v, want 80%% (%d)", max, limit, max*8/10)
			}
		}
	}
}

func TestSLARoutesAreTheLabelsTheGatewayReports(t *testing.T) {
	set := rules.Default()
	for _, c := range []struct{ method, path, route string }{
		{"POST", "/api/v1/auth/password/sign-in", SignInRoute},
		{"POST", "/api/latest/auth/password/sign-in", SignInRoute},
		{"POST", "/api/v1/auth/sessions/current/refresh", RefreshRoute},
		{"POST", "/api/latest/auth/sessions/current/refresh", RefreshRoute},
	} {
		if got := set.Match(c.method, c.path).Route; got != c.route {
			t.Errorf("%s %s: the gateway reports route %q, the alerts watch %q", c.method, c.path, got, c.route)
		}
	}
}

// grafanaVariables are what Grafana substitutes before sending a query; the parser needs real durations there.
var grafanaVariables = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

func TestDashboardParsesAndEveryPanelQueryParses(t *testing.T) {
	var d struct {
		UID        string `json:"uid"`
		Templating struct {
			List []struct{ Name, Type string } `json:"list"`
		} `json:"templating"`
		Panels []struct {
			ID         int                  `json:"id"`
			Title      string               `json:"title"`
			Datasource struct{ UID string } `json:"datasource"`
			Targets    []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	dec := json.NewDecoder(strings.NewReader(StackAuthDashboard))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("dashboards/stack-auth.json: %v", err)
	}
	if d.UID == "" || len(d.Templating.List) != 1 || d.Templating.List[0].Type != "datasource" {
		t.Fatalf("the dashboard needs a uid and one datasource variable, got %q %+v", d.UID, d.Templating.List)
	}
	ids := map[int]bool{}
	metrics := map[string]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d is repeated", p.ID)
		}
		ids[p.ID] = true
		if p.Datasource.UID != "${"+d.Templating.List[0].Name+"}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: datasource %q, %d queries; want the dashboard's variable and at least one query", p.Title, p.Datasource.UID, len(p.Targets))
		}
		for _, q := range p.Targets {
			expr, err := promql.ParseExpr(grafanaVariables.Replace(q.Expr))
			if err != nil {
				t.Errorf("panel %q: %q does not parse: %v", p.Title, q.Expr, err)
				continue
			}
			parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
				if v, ok := n.(*parser.VectorSelector); ok {
					metrics[v.Name] = true
				}
				return nil
			})
		}
	}
	for _, m := range []string{"http_requests_total", "http_request_duration_seconds_bucket", "rate_limit_exceeded_total",
		DatabaseConnectionsActive, "redis_operations_total", RedisCommandsRate} {
		if !metrics[m] {
			t.Errorf("no panel queries %s", m)
		}
	}
}

func TestExporterDSNKeepsOnlySSLMode(t *testing.T) {
	// The app's connection string as components/credentials writes it, with Prisma's pool parameters.
	app := "postgresql://stackauth:Pw0rd1234abcd@db.example.internal:5432/stackauth?connection_limit=20&pool_timeout=10&sslmode=require"
	tpl, err := template.New("dsn").Funcs(sprig.TxtFuncMap()).Parse(ExporterSecretTemplate()["DATA_SOURCE_NAME"].(string))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := tpl.Execute(&out, map[string]string{"dsn": app}); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(out.String())
	if err != nil {
		t.Fatalf("%q: %v", out.String(), err)
	}
	if u.RawQuery != "sslmode=require" || u.Host != "db.example.internal:5432" || u.User.String() != "stackauth:Pw0rd1234abcd" || u.Path != "/stackauth" {
		t.Errorf("exporter DSN %q: want the same user, host and database with sslmode=require only", out.String())
	}
}

func TestMonitorSpecsDecodeStrictlyAndScrapeEvery15s(t *testing.T) {
	for _, e := range Exporters() {
		var spec monitoringv1.ServiceMonitorSpec
		if err := k8svalidate.Strict(ServiceMonitorSpec(e), &spec); err != nil {
			t.Fatalf("%s: %v", e.Name, err)
		}
		ep := spec.Endpoints[0]
		if ep.Interval != "15s" || ep.ScrapeTimeout != "10s" || ep.Port != e.Port {
			t.Errorf("%s: interval %s timeout %s port %s", e.Name, ep.Interval, ep.ScrapeTimeout, ep.Port)
		}
		service := e.Values["service"].(map[string]any)["labels"].(map[string]any)
		for k, v := range spec.Selector.MatchLabels {
			if service[k] != v {
				t.Errorf("%s: the ServiceMonitor selects %s=%s, the chart's Service has %v", e.Name, k, v, service)
			}
		}
	}
	var pod monitoringv1.PodMonitorSpec
	if err := k8svalidate.Strict(EnvoyPodMonitorSpec("envoy-gateway-system"), &pod); err != nil {
		t.Fatal(err)
	}
}

func TestNoCredentialInAnyValues(t *testing.T) {
	a := validArgs()
	a.Telemetry = true
	all := []map[string]any{StackValues(a), EdgeDashboardValues(), CollectorValues(a)}
	for _, e := range Exporters() {
		all = append(all, e.Values)
	}
	credential := regexp.MustCompile(`(?i)(://[^/\s]*:[^/\s]*@|password"?:\s*"[^"])`)
	for _, v := range all {
		b, _ := json.Marshal(v)
		if m := credential.Find(b); m != nil {
			t.Errorf("values hold a credential: %s", m)
		}
	}
	grafana := StackValues(a)["grafana"].(map[string]any)
	if _, ok := grafana["adminPassword"]; ok {
		t.Error("grafana.adminPassword is set; the password must come from admin.existingSecret")
	}
	if grafana["admin"].(map[string]any)["existingSecret"] != GrafanaAdminSecret {
		t.Error("grafana.admin.existingSecret does not name the synced Secret")
	}
}

func TestStackValuesSelectTheProjectsLabels(t *testing.T) {
	spec := StackValues(validArgs())["prometheus"].(map[string]any)["prometheusSpec"].(map[string]any)
	var typed monitoringv1.PrometheusSpec
	// Strict decoding of the spec the chart writes into its Prometheus resource: the chart's own switches dropped,
	// storageSpec renamed to the resource's storage.
	resourceSpec := map[string]any{}
	for k, v := range spec {
		switch {
		case strings.HasSuffix(k, "NilUsesHelmValues"):
		case k == "storageSpec":
			resourceSpec["storage"] = v
		default:
			resourceSpec[k] = v
		}
	}
	if err := k8svalidate.Strict(resourceSpec, &typed); err != nil {
		t.Fatal(err)
	}
	for _, sel := range []*struct {
		name string
		got  map[string]string
	}{
		{"serviceMonitorSelector", typed.ServiceMonitorSelector.MatchLabels},
		{"podMonitorSelector", typed.PodMonitorSelector.MatchLabels},
		{"ruleSelector", typed.RuleSelector.MatchLabels},
	} {
		if len(sel.got) != len(SelectorLabels()) || sel.got["release"] != ReleaseName {
			t.Errorf("%s matches %v, want %v", sel.name, sel.got, SelectorLabels())
		}
	}
	if typed.Retention != "15d" || typed.RetentionSize != "87040MB" || typed.Storage.VolumeClaimTemplate.Spec.StorageClassName == nil ||
		*typed.Storage.VolumeClaimTemplate.Spec.StorageClassName != "gp3" {
		t.Errorf("retention %q, storage %+v", typed.Retention, typed.Storage)
	}
}

func validArgs() Args {
	return Args{
		Retention: "15d", StorageSize: "100Gi", StorageClass: "gp3",
		Secrets: SecretSource{Release: nil, APIVersion: "external-secrets.io/v1", Region: "us-east-1",
			ServiceAccount: "secrets-reader", ServiceAccountNamespace: "stack-auth-prod"},
		Rules:          testRuleArgs(),
		EdgeDashboards: k8sbase.Chart{Name: "oci://docker.io/envoyproxy/gateway-addons-helm", Version: "v1.9.1"},
		EdgeNamespace:  "envoy-gateway-system",
	}
}

func TestArgsErrorsNameTheField(t *testing.T) {
	a := validArgs()
	a.Retention = "two weeks"
	a.StorageSize = "lots"
	a.Rules.RunbookURL = "http://x/#frag"
	a.Rules.MaxConnections = 0
	a.EdgeDashboards.Version = "latest"
	err := a.validate()
	if err == nil {
		t.Fatal("invalid args accepted")
	}
	for _, field := range []string{"args.Retention", "args.StorageSize", "args.Rules.RunbookURL", "args.Rules.MaxConnections", "args.EdgeDashboards", "args.Secrets"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error does not name %s: %v", field, err)
		}
	}
}

func TestEveryAlertHasARunbookSectionInTheReadme(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start := strings.Index(text, "\n## Alerts\n")
	if start < 0 {
		t.Fatal("README.md has no '## Alerts' section")
	}
	section := text[start+1:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	headings := map[string]bool{}
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "### ") {
			headings[Anchor(strings.TrimPrefix(line, "### "))] = true
		}
	}
	args := testRuleArgs()
	for _, a := range Alerts(args) {
		if !headings[Anchor(a.Name)] {
			t.Errorf("alert %s has no '### %s' under '## Alerts' in README.md", a.Name, a.Name)
		}
	}
	if len(headings) != len(Alerts(args)) {
		t.Errorf("README's Alerts has %d sections for %d alerts", len(headings), len(Alerts(args)))
	}
}
