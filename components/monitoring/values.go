package monitoring

import (
	"fmt"

	"github.com/stackauth-platform/infra/components/k8sbase"
)

// Pinned upstream charts: the newest releases public sources showed in autumn 2026.
var (
	StackChart = k8sbase.Chart{Name: "kube-prometheus-stack", Version: "91.4.1", Repo: prometheusCommunity}
	// PostgresExporterChart and RedisExporterChart run postgres_exporter and redis_exporter.
	PostgresExporterChart = k8sbase.Chart{Name: "prometheus-postgres-exporter", Version: "8.1.1", Repo: prometheusCommunity}
	RedisExporterChart    = k8sbase.Chart{Name: "prometheus-redis-exporter", Version: "6.33.0", Repo: prometheusCommunity}
	CollectorChart        = k8sbase.Chart{Name: "opentelemetry-collector", Version: "0.173.1", Repo: "https://open-telemetry.github.io/opentelemetry-helm-charts"}
)

const prometheusCommunity = "https://prometheus-community.github.io/helm-charts"

// Images pinned by tag for what the charts above do not pick themselves.
const (
	CollectorImage = "otel/opentelemetry-collector-k8s"
	CollectorTag   = "0.160.0"
	JaegerImage    = "jaegertracing/jaeger:2.21.0"
)

// Names of the objects other components and the README refer to.
const (
	ReleaseName         = "kube-prometheus-stack"
	GrafanaAdminSecret  = "grafana-admin"
	ExporterSecret      = "exporter-credentials"
	CollectorName       = "otel-collector"
	JaegerName          = "jaeger"
	DashboardLabel      = "grafana_dashboard"
	communityDashboards = "community"
)

// SelectorLabels are the labels this Prometheus selects ServiceMonitors, PodMonitors and PrometheusRules by. They
// are the chart's own release label, so the monitors the chart ships for the cluster (kubelet, node-exporter,
// kube-state-metrics, which dashboard 15757 needs) keep being selected too.
func SelectorLabels() map[string]string { return map[string]string{"release": ReleaseName} }

// CommunityDashboard is a dashboard Grafana downloads from grafana.com by id when it starts.
type CommunityDashboard struct {
	Key      string
	ID       int
	Revision int
}

// CommunityDashboards are the guide's dashboards by id; the guide's NGINX one (9614) is replaced by Envoy Gateway's
// own dashboards, which the edge's chart ships (see NewStack).
var CommunityDashboards = []CommunityDashboard{
	{Key: "kubernetes-global", ID: 15757, Revision: 43},
	{Key: "postgresql", ID: 9628, Revision: 8},
	{Key: "redis", ID: 11835, Revision: 1},
}

// StackValues are kube-prometheus-stack's values. Nothing secret: Grafana's admin login comes from the Secret that
// External Secrets makes (admin.existingSecret).
func StackValues(a Args) map[string]any {
	selector := map[string]any{"matchLabels": toAny(SelectorLabels())}
	everywhere := map[string]any{}
	replicas := 1
	if a.HighAvailability {
		replicas = 2
	}
	dashboards := map[string]any{}
	for _, d := range CommunityDashboards {
		dashboards[d.Key] = map[string]any{"gnetId": d.ID, "revision": d.Revision, "datasource": "Prometheus"}
	}
	return map[string]any{
		"crds": map[string]any{"enabled": true},
		"prometheus": map[string]any{"prometheusSpec": map[string]any{
			"replicas":      replicas,
			"retention":     a.Retention,
			"retentionSize": a.retentionSize(),
			"storageSpec": map[string]any{"volumeClaimTemplate": map[string]any{"spec": map[string]any{
				"storageClassName": a.StorageClass,
				"accessModes":      []any{"ReadWriteOnce"},
				"resources":        map[string]any{"requests": map[string]any{"storage": a.StorageSize}},
			}}},
			// Select the project's monitors and rules by label, in every namespace (the gateway's monitor lives
			// in the app namespace).
			"serviceMonitorSelector":                  selector,
			"serviceMonitorNamespaceSelector":         everywhere,
			"podMonitorSelector":                      selector,
			"podMonitorNamespaceSelector":             everywhere,
			"ruleSelector":                            selector,
			"ruleNamespaceSelector":                   everywhere,
			"serviceMonitorSelectorNilUsesHelmValues": false,
			"podMonitorSelectorNilUsesHelmValues":     false,
			"ruleSelectorNilUsesHelmValues":           false,
			"resources": map[string]any{
				"requests": map[string]any{"cpu": "500m", "memory": "2Gi"},
				"limits":   map[string]any{"memory": "6Gi"},
			},
		}},
		"alertmanager": map[string]any{"alertmanagerSpec": map[string]any{"replicas": replicas}},
		// node-exporter needs the host's network and PID namespaces, which Pod Security refuses in the monitoring
		// namespace; it runs in kube-system beside the other node agents.
		"prometheus-node-exporter": map[string]any{"namespaceOverride": "kube-system"},
		"grafana": map[string]any{
			// The synced Secret holds the chart's default keys, admin-user and admin-password.
			"admin": map[string]any{"existingSecret": GrafanaAdminSecret},
			"sidecar": map[string]any{"dashboards": map[string]any{
				"enabled":         true,
				"label":           DashboardLabel,
				"labelValue":      "1",
				"searchNamespace": a.namespace(),
			}},
			"dashboardProviders": map[string]any{"dashboardproviders.yaml": map[string]any{
				"apiVersion": 1,
				"providers": []any{map[string]any{
					"name": communityDashboards, "orgId": 1, "folder": "Community", "type": "file",
					"disableDeletion": true, "editable": false,
					"options": map[string]any{"path": "/var/lib/grafana/dashboards/" + communityDashboards},
				}},
			}},
			"dashboards":  map[string]any{communityDashboards: dashboards},
			"persistence": map[string]any{"enabled": false},
			"resources": map[string]any{
				"requests": map[string]any{"cpu": "100m", "memory": "256Mi"},
				"limits":   map[string]any{"memory": "1Gi"},
			},
		},
	}
}

// PostgresExporterValues point postgres_exporter at the connection string in the synced Secret.
func PostgresExporterValues() map[string]any {
	v := exporterValues("postgres", 65534)
	v["config"] = map[string]any{"datasourceSecret": map[string]any{"name": ExporterSecret, "key": "DATA_SOURCE_NAME"}}
	return v
}

// RedisExporterValues point redis_exporter at the rediss:// URL (with the AUTH token) in the synced Secret.
func RedisExporterValues() map[string]any {
	v := exporterValues("redis", 59000)
	v["redisAddressConfig"] = map[string]any{
		"enabled":  true,
		"isSecret": true,
		"source":   map[string]any{"name": ExporterSecret, "key": "REDIS_ADDR"},
	}
	return v
}

// exporterValues are what both exporter charts share: the Service label their ServiceMonitor selects (the
// project's own, interval 15s and timeout 10s, so the charts' are off), non-root pods, small resources.
func exporterValues(name string, uid int) map[string]any {
	return map[string]any{
		"service":            map[string]any{"labels": map[string]any{exporterLabel: name}},
		"serviceMonitor":     map[string]any{"enabled": false},
		"podSecurityContext": podSecurity(uid),
		"securityContext":    containerSecurity(),
		"resources": map[string]any{
			"requests": map[string]any{"cpu": "50m", "memory": "64Mi"},
			"limits":   map[string]any{"memory": "256Mi"},
		},
	}
}

// exporterLabel marks the exporters' Services for their ServiceMonitors.
const exporterLabel = "monitoring.stackauth.io/exporter"

// Exporter is one exporter release and how its metrics are scraped.
type Exporter struct {
	Name   string
	Chart  k8sbase.Chart
	Values map[string]any
	// Port is the name of the Service port with /metrics.
	Port string
}

// Exporters are the two data-store exporters.
func Exporters() []Exporter {
	return []Exporter{
		{Name: "postgres", Chart: PostgresExporterChart, Values: PostgresExporterValues(), Port: "http"},
		{Name: "redis", Chart: RedisExporterChart, Values: RedisExporterValues(), Port: "redis-exporter"},
	}
}

// ServiceMonitorSpec scrapes an exporter every 15s with a 10s timeout, as the guide says.
func ServiceMonitorSpec(e Exporter) map[string]any {
	return map[string]any{
		"selector":  map[string]any{"matchLabels": map[string]any{exporterLabel: e.Name}},
		"endpoints": []any{map[string]any{"port": e.Port, "path": "/metrics", "interval": "15s", "scrapeTimeout": "10s"}},
	}
}

// EnvoyPodMonitorSpec scrapes the edge's Envoy proxies (their stats port), which the Envoy dashboards read.
func EnvoyPodMonitorSpec(edgeNamespace string) map[string]any {
	return map[string]any{
		"namespaceSelector": map[string]any{"matchNames": []any{edgeNamespace}},
		"selector": map[string]any{"matchLabels": map[string]any{
			"app.kubernetes.io/component":  "proxy",
			"app.kubernetes.io/managed-by": "envoy-gateway",
		}},
		"podMetricsEndpoints": []any{map[string]any{"port": "metrics", "path": "/stats/prometheus", "interval": "15s", "scrapeTimeout": "10s"}},
	}
}

// EdgeDashboardValues install only the dashboards of Envoy Gateway's add-ons chart, labelled for Grafana's
// sidecar; every bundled component (its own Grafana, Prometheus, Loki, ...) stays off.
func EdgeDashboardValues() map[string]any {
	values := map[string]any{"dashboard": map[string]any{"labels": map[string]any{DashboardLabel: "1"}}}
	for _, bundled := range []string{"grafana", "prometheus", "fluent-bit", "alloy", "loki", "tempo", "opentelemetry-collector"} {
		values[bundled] = off()
	}
	return values
}

// CollectorValues run one OpenTelemetry Collector deployment that takes OTLP from Stack Auth and the gateway and
// sends the traces to Jaeger.
func CollectorValues(a Args) map[string]any {
	jaeger := fmt.Sprintf("%s.%s.svc:4317", JaegerName, a.namespace())
	return map[string]any{
		"mode":             "deployment",
		"replicaCount":     1,
		"image":            map[string]any{"repository": CollectorImage, "tag": CollectorTag},
		"fullnameOverride": CollectorName,
		"ports": map[string]any{
			"jaeger-compact": off(), "jaeger-thrift": off(), "jaeger-grpc": off(), "zipkin": off(),
		},
		"config": map[string]any{
			"receivers": map[string]any{
				"jaeger": nil, "zipkin": nil, "prometheus": nil,
				"otlp": map[string]any{"protocols": map[string]any{
					"grpc": map[string]any{"endpoint": "${env:MY_POD_IP}:4317"},
					"http": map[string]any{"endpoint": "${env:MY_POD_IP}:4318"},
				}},
			},
			"processors": map[string]any{"batch": map[string]any{}},
			"exporters": map[string]any{
				"otlp/jaeger": map[string]any{"endpoint": jaeger, "tls": map[string]any{"insecure": true}},
			},
			"service": map[string]any{"pipelines": map[string]any{
				"traces":  map[string]any{"receivers": []any{"otlp"}, "processors": []any{"memory_limiter", "batch"}, "exporters": []any{"otlp/jaeger"}},
				"metrics": nil,
				"logs":    nil,
			}},
		},
		"securityContext":    containerSecurity(),
		"podSecurityContext": podSecurity(10001),
		"resources": map[string]any{
			"requests": map[string]any{"cpu": "100m", "memory": "256Mi"},
			"limits":   map[string]any{"memory": "512Mi"},
		},
	}
}

func off() map[string]any { return map[string]any{"enabled": false} }

func containerSecurity() map[string]any {
	return map[string]any{
		"allowPrivilegeEscalation": false,
		"readOnlyRootFilesystem":   true,
		"runAsNonRoot":             true,
		"capabilities":             map[string]any{"drop": []any{"ALL"}},
		"seccompProfile":           map[string]any{"type": "RuntimeDefault"},
	}
}

func podSecurity(uid int) map[string]any {
	return map[string]any{
		"runAsNonRoot": true, "runAsUser": uid, "runAsGroup": uid,
		"seccompProfile": map[string]any{"type": "RuntimeDefault"},
	}
}

func toAny(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
