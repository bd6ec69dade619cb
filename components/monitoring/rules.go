package monitoring

import (
	"fmt"
	"regexp"
	"strings"
)

// Route labels of the gateway's HTTP metrics that the per-route SLAs watch. They are the route templates the
// gateway's default rules report (ratelimit/rules); a test checks each against the rules package.
const (
	SignInRoute  = "/api/v1/auth/password/sign-in"
	RefreshRoute = "/api/v1/auth/sessions/current/refresh"
)

// Recorded metric names. database_connections_active is the guide's name, recorded from postgres_exporter;
// redis_operations_total and the HTTP metrics are native to the gateway and need no rule.
const (
	DatabaseConnectionsActive = "database_connections_active"
	RedisCommandsRate         = "redis:commands_processed:rate5m"
)

// SLA is one of the guide's latency or error-rate objectives, turned into an alert.
type SLA struct {
	Alert string
	// Quantile is 0.95 or 0.99 for latency objectives, 0 for the error rate.
	Quantile float64
	// Route limits the objective to one route label; empty means all traffic through the gateway.
	Route string
	// Threshold is seconds for latency, a fraction of requests for the error rate.
	Threshold float64
	Summary   string
}

// SLAs are the guide's performance thresholds (the load test enforces the same numbers).
var SLAs = []SLA{
	{Alert: "StackAuthLatencyP95High", Quantile: 0.95, Threshold: 2, Summary: "p95 latency through the gateway is above 2s"},
	{Alert: "StackAuthLatencyP99High", Quantile: 0.99, Threshold: 5, Summary: "p99 latency through the gateway is above 5s"},
	{Alert: "StackAuthErrorRateHigh", Threshold: 0.05, Summary: "more than 5% of requests through the gateway fail with 5xx"},
	{Alert: "StackAuthSignInLatencyHigh", Quantile: 0.95, Route: SignInRoute, Threshold: 1.5, Summary: "p95 of password sign-in is above 1.5s"},
	{Alert: "StackAuthTokenRefreshLatencyHigh", Quantile: 0.95, Route: RefreshRoute, Threshold: 0.5, Summary: "p95 of token refresh is above 500ms"},
}

// Expr is the PromQL of the objective's alert.
func (s SLA) Expr(job string) string {
	sel := fmt.Sprintf(`job=%q`, job)
	if s.Route != "" {
		sel += fmt.Sprintf(`, route=%q`, s.Route)
	}
	if s.Quantile == 0 {
		return fmt.Sprintf(`sum(rate(http_requests_total{%s, code=~"5.."}[5m])) / sum(rate(http_requests_total{%s}[5m])) > %g`, sel, sel, s.Threshold)
	}
	return fmt.Sprintf(`histogram_quantile(%g, sum by (le) (rate(http_request_duration_seconds_bucket{%s}[5m]))) > %g`, s.Quantile, sel, s.Threshold)
}

// RuleArgs are the facts the alerts need about the stack.
type RuleArgs struct {
	// GatewayJob is the job label of the gateway's targets (its Service name, as the ServiceMonitor scrapes it).
	GatewayJob string
	// AppNamespace is where Stack Auth and the gateway run; crash loops are watched there.
	AppNamespace string
	// MaxConnections is the database's max_connections (stackauth:dbMaxConnections).
	MaxConnections int
	// RunbookURL is the README the alerts link to; each alert's section is <RunbookURL>#<alert in lower case>.
	RunbookURL string
}

// Alert is one alerting rule.
type Alert struct {
	Name     string
	Expr     string
	For      string
	Severity string
	Summary  string
}

// Alerts are every alert the project defines, in the order the README's Alerts section lists them.
func Alerts(a RuleArgs) []Alert {
	var out []Alert
	for _, s := range SLAs {
		out = append(out, Alert{Name: s.Alert, Expr: s.Expr(a.GatewayJob), For: "10m", Severity: "warning", Summary: s.Summary})
	}
	job := fmt.Sprintf(`job=%q`, a.GatewayJob)
	exceeded := fmt.Sprintf(`sum by (rule) (rate(rate_limit_exceeded_total{%s}[5m]))`, job)
	return append(out,
		Alert{
			Name: "RateLimitRejectionsSpike",
			// More than one refusal a second, and three times the hour before (or no refusals then at all).
			Expr:     fmt.Sprintf(`%s > 1 unless %s <= 3 * sum by (rule) (rate(rate_limit_exceeded_total{%s}[1h] offset 5m))`, exceeded, exceeded, job),
			For:      "5m",
			Severity: "warning",
			Summary:  "429s of rule {{ $labels.rule }} jumped to {{ $value | humanize }}/s",
		},
		Alert{
			Name:     "RateLimitStoreDegraded",
			Expr:     fmt.Sprintf(`sum by (rule, policy) (rate(rate_limit_degraded_decisions_total{%s}[5m])) > 0`, job),
			For:      "2m",
			Severity: "critical",
			Summary:  "the gateway decides rule {{ $labels.rule }} without Redis (policy {{ $labels.policy }})",
		},
		Alert{
			Name:     "DatabaseConnectionsNearMax",
			Expr:     fmt.Sprintf(`%s > %d`, DatabaseConnectionsActive, a.MaxConnections*8/10),
			For:      "5m",
			Severity: "warning",
			Summary:  fmt.Sprintf("{{ $value }} Postgres connections open, over 80%% of max_connections (%d)", a.MaxConnections),
		},
		Alert{
			Name:     "PostgresExporterDown",
			Expr:     `pg_up == 0 or absent(pg_up)`,
			For:      "5m",
			Severity: "warning",
			Summary:  "postgres_exporter cannot reach the database; DB metrics and alerts are blind",
		},
		Alert{
			Name:     "RedisExporterDown",
			Expr:     `redis_up == 0 or absent(redis_up)`,
			For:      "5m",
			Severity: "warning",
			Summary:  "redis_exporter cannot reach ElastiCache; Redis metrics are blind",
		},
		Alert{
			Name:     "StackAuthPodCrashLooping",
			Expr:     fmt.Sprintf(`max by (pod, container) (max_over_time(kube_pod_container_status_waiting_reason{namespace=%q, reason="CrashLoopBackOff"}[5m])) >= 1`, a.AppNamespace),
			For:      "10m",
			Severity: "critical",
			Summary:  "{{ $labels.pod }} ({{ $labels.container }}) is crash-looping",
		},
	)
}

// RecordingRules are the guide's key metrics that the exporters provide under other names.
func RecordingRules() []map[string]any {
	return []map[string]any{
		// Client connections in any state: the number that counts against max_connections.
		{"record": DatabaseConnectionsActive, "expr": `sum(pg_stat_activity_count)`},
		{"record": RedisCommandsRate, "expr": `sum(rate(redis_commands_processed_total[5m]))`},
	}
}

// RuleGroups is the spec.groups of the project's PrometheusRule.
func RuleGroups(a RuleArgs) []any {
	var alerts []any
	for _, al := range Alerts(a) {
		alerts = append(alerts, map[string]any{
			"alert":  al.Name,
			"expr":   al.Expr,
			"for":    al.For,
			"labels": map[string]any{"severity": al.Severity},
			"annotations": map[string]any{
				"summary":     al.Summary,
				"runbook_url": a.RunbookURL + "#" + Anchor(al.Name),
			},
		})
	}
	var records []any
	for _, r := range RecordingRules() {
		records = append(records, r)
	}
	return []any{
		map[string]any{"name": "stackauth.recording", "interval": "30s", "rules": records},
		map[string]any{"name": "stackauth.alerts", "rules": alerts},
	}
}

var notAnchor = regexp.MustCompile(`[^a-z0-9 _-]`)

// Anchor is the fragment GitHub gives a Markdown heading: lower case, punctuation dropped, spaces as dashes.
func Anchor(heading string) string {
	return strings.ReplaceAll(notAnchor.ReplaceAllString(strings.ToLower(heading), ""), " ", "-")
}
