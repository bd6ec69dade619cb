// Package monitoring runs the stack's observability: kube-prometheus-stack (Prometheus, Alertmanager, Grafana),
// exporters for the RDS instance and the ElastiCache group, the SLA alerts and dashboards, and, when telemetry is
// on, an OpenTelemetry Collector with Jaeger. Stack Auth has no /metrics: HTTP metrics come from the rate-limit
// gateway in front of it, data-store metrics from the exporters.
package monitoring

import (
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/stackauth-platform/infra/components/k8sbase"
	"github.com/stackauth-platform/infra/components/namespace"
)

// StackAuthDashboard is the project's own Grafana dashboard (request rate and latency by route, errors, 429s,
// database connections, Redis operations).
//
//go:embed dashboards/stack-auth.json
var StackAuthDashboard string

// MonitoringAPIVersion is the prometheus-operator API of ServiceMonitor, PodMonitor and PrometheusRule.
const MonitoringAPIVersion = "monitoring.coreos.com/v1"

// DefaultNamespace is where everything of this component runs.
const DefaultNamespace = "monitoring"

// Keys of the stack's Secrets Manager secret that the monitoring namespace reads.
const (
	GrafanaPasswordKey  = "GRAFANA_ADMIN_PASSWORD"
	DatabaseURLKey      = "STACK_DIRECT_DATABASE_CONNECTION_STRING"
	RedisURLKey         = "REDIS_URL"
	secretsRefresh      = "1h"
	clusterStoreName    = "monitoring-secrets-manager"
	exporterDSNTemplate = `{{ regexReplaceAll "[?].*$" .dsn "?sslmode=require" }}`
)

// SecretSource is the External Secrets setup the component reads its credentials through: a ClusterSecretStore,
// usable from the monitoring namespace only, that authenticates as the app namespace's IRSA reader account.
type SecretSource struct {
	// Release installs the external-secrets.io CRDs.
	Release    pulumi.Resource
	APIVersion string
	Region     string
	// SecretARN is the stack's Secrets Manager secret.
	SecretARN pulumi.StringInput
	// ServiceAccount in ServiceAccountNamespace carries the IRSA role that may read SecretARN.
	ServiceAccount          string
	ServiceAccountNamespace string
}

// Args configure the component.
type Args struct {
	// Namespace (default monitoring) is created by the component with Pod Security baseline enforced and
	// restricted warned.
	Namespace string
	// HighAvailability runs two Prometheus and two Alertmanager replicas.
	HighAvailability bool
	// Retention (like 15d) bounds Prometheus' TSDB in time; StorageSize is its PVC (StorageClass, gp3), and the
	// TSDB is also capped at 85% of it, so a full volume drops old blocks instead of stopping Prometheus.
	Retention    string
	StorageSize  string
	StorageClass string

	Secrets SecretSource
	Rules   RuleArgs

	// EdgeDashboards is Envoy Gateway's add-ons chart at the edge's version; EdgeNamespace is where its proxies run.
	EdgeDashboards k8sbase.Chart
	EdgeNamespace  string

	// Telemetry deploys the OpenTelemetry Collector and Jaeger.
	Telemetry bool
}

// Stack is the component.
type Stack struct {
	pulumi.ResourceState

	// Release is kube-prometheus-stack: it installs the monitoring.coreos.com CRDs.
	Release *helmv3.Release
	// Namespace is where Prometheus runs (the source to admit in NetworkPolicies of scraped workloads).
	Namespace string
	// SelectorLabels must be on every ServiceMonitor, PodMonitor and PrometheusRule for Prometheus to read it.
	SelectorLabels map[string]string
	// OTLPEndpoint is the collector's OTLP/HTTP base URL, empty without telemetry.
	OTLPEndpoint string
}

func (a Args) namespace() string {
	if a.Namespace == "" {
		return DefaultNamespace
	}
	return a.Namespace
}

var retentionPattern = regexp.MustCompile(`^[0-9]+(ms|s|m|h|d|w|y)$`)

// retentionSize is 85% of the volume in Prometheus' units (MB = 2^20 bytes).
func (a Args) retentionSize() string {
	q := resource.MustParse(a.StorageSize)
	return fmt.Sprintf("%dMB", q.Value()/100*85>>20)
}

func (a Args) validate() error {
	var errs []error
	bad := func(format string, v ...any) { errs = append(errs, fmt.Errorf("monitoring: "+format, v...)) }
	if msgs := validation.IsDNS1123Label(a.namespace()); len(msgs) > 0 {
		bad("args.Namespace %q is not a namespace name (%s)", a.Namespace, strings.Join(msgs, "; "))
	}
	if !retentionPattern.MatchString(a.Retention) {
		bad("args.Retention %q is not a Prometheus duration: write it like 15d", a.Retention)
	}
	if q, err := resource.ParseQuantity(a.StorageSize); err != nil || q.Value() < 1<<30 {
		bad("args.StorageSize %q is not a quantity of at least 1Gi: write it like 100Gi", a.StorageSize)
	}
	if a.StorageClass == "" {
		bad("args.StorageClass is empty: name the StorageClass of Prometheus' volume (gp3)")
	}
	s := a.Secrets
	if s.Release == nil || s.SecretARN == nil || s.APIVersion == "" || s.Region == "" || s.ServiceAccount == "" || s.ServiceAccountNamespace == "" {
		bad("args.Secrets is incomplete: pass the External Secrets release and API version, the region and ARN of the stack's secret, and the reader service account with its namespace")
	}
	r := a.Rules
	if r.GatewayJob == "" || r.AppNamespace == "" {
		bad("args.Rules.GatewayJob and AppNamespace must be set: the alerts select the gateway's metrics and the app's pods by them")
	}
	if r.MaxConnections <= 0 {
		bad("args.Rules.MaxConnections %d is not positive: pass stackauth:dbMaxConnections", r.MaxConnections)
	}
	if u, err := url.Parse(r.RunbookURL); err != nil || u.Scheme != "https" || u.Fragment != "" {
		bad("args.Rules.RunbookURL %q is not an https:// URL without a fragment: give the README the alerts link to", r.RunbookURL)
	}
	if err := a.EdgeDashboards.Validate(); err != nil {
		bad("args.EdgeDashboards: %v", err)
	}
	if a.EdgeNamespace == "" {
		bad("args.EdgeNamespace is empty: name the namespace of the edge's Envoy proxies")
	}
	return errors.Join(errs...)
}

// NewStack deploys the monitoring. Pass the kubernetes provider in opts (pulumi.Providers).
func NewStack(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Stack, error) {
	if err := args.validate(); err != nil {
		return nil, err
	}
	ns := args.namespace()
	component := &Stack{Namespace: ns, SelectorLabels: SelectorLabels()}
	if err := ctx.RegisterComponentResource("stackauth:monitoring:Stack", name, component, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(component)

	space, err := namespace.NewNamespace(ctx, name+"-namespace", namespace.Args{Name: ns, Enforce: namespace.Baseline}, parent)
	if err != nil {
		return nil, err
	}
	inNamespace := pulumi.DependsOn([]pulumi.Resource{space.Resource})

	secrets, err := syncSecrets(ctx, name, args, parent, inNamespace)
	if err != nil {
		return nil, err
	}

	release, err := k8sbase.Release(ctx, name, k8sbase.ReleaseArgs{
		Chart: StackChart, ReleaseName: ReleaseName, Namespace: ns, Values: StackValues(args),
	}, parent, pulumi.DependsOn([]pulumi.Resource{space.Resource, secrets.grafana}))
	if err != nil {
		return nil, err
	}
	monitor := func(resourceName, kind, objectName string, spec map[string]any) error {
		_, err := k8sbase.CustomResource(ctx, resourceName, k8sbase.Object{
			APIVersion: MonitoringAPIVersion, Kind: kind, Name: objectName, Namespace: ns,
			Labels: SelectorLabels(), Fields: map[string]any{"spec": spec},
		}, release, parent)
		return err
	}

	for _, e := range Exporters() {
		if _, err := k8sbase.Release(ctx, name+"-"+e.Name+"-exporter", k8sbase.ReleaseArgs{
			Chart: e.Chart, ReleaseName: e.Name + "-exporter", Namespace: ns, Values: e.Values,
		}, parent, pulumi.DependsOn([]pulumi.Resource{space.Resource, secrets.exporters})); err != nil {
			return nil, err
		}
		if err := monitor(name+"-"+e.Name+"-exporter", "ServiceMonitor", e.Name+"-exporter", ServiceMonitorSpec(e)); err != nil {
			return nil, err
		}
	}
	if err := monitor(name+"-rules", "PrometheusRule", "stackauth", map[string]any{"groups": RuleGroups(args.Rules)}); err != nil {
		return nil, err
	}

	if _, err := corev1.NewConfigMap(ctx, name+"-dashboard", &corev1.ConfigMapArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:      pulumi.String("stackauth-dashboard"),
			Namespace: pulumi.String(ns),
			Labels:    pulumi.StringMap{DashboardLabel: pulumi.String("1")},
		},
		Data: pulumi.StringMap{"stack-auth.json": pulumi.String(StackAuthDashboard)},
	}, parent, inNamespace); err != nil {
		return nil, err
	}
	if _, err := k8sbase.Release(ctx, name+"-edge-dashboards", k8sbase.ReleaseArgs{
		Chart: args.EdgeDashboards, ReleaseName: "edge-dashboards", Namespace: ns, Values: EdgeDashboardValues(),
	}, parent, inNamespace); err != nil {
		return nil, err
	}
	if err := monitor(name+"-envoy-proxies", "PodMonitor", "envoy-proxies", EnvoyPodMonitorSpec(args.EdgeNamespace)); err != nil {
		return nil, err
	}

	if args.Telemetry {
		if err := tracing(ctx, name, args, parent, inNamespace); err != nil {
			return nil, err
		}
		component.OTLPEndpoint = fmt.Sprintf("http://%s.%s.svc:4318", CollectorName, ns)
	}

	component.Release = release
	if err := ctx.RegisterResourceOutputs(component, pulumi.Map{
		"namespace":      pulumi.String(ns),
		"selectorLabels": pulumi.ToStringMap(component.SelectorLabels),
		"otlpEndpoint":   pulumi.String(component.OTLPEndpoint),
	}); err != nil {
		return nil, err
	}
	return component, nil
}

type syncedSecrets struct{ grafana, exporters pulumi.Resource }

// syncSecrets makes the two Secrets of the namespace from the stack's Secrets Manager secret: Grafana's admin
// login and the exporters' connection strings. Only the keys named here reach the namespace.
func syncSecrets(ctx *pulumi.Context, name string, a Args, opts ...pulumi.ResourceOption) (syncedSecrets, error) {
	s := a.Secrets
	store, err := k8sbase.CustomResource(ctx, name+"-secret-store", k8sbase.Object{
		APIVersion: s.APIVersion, Kind: "ClusterSecretStore", Name: clusterStoreName,
		Fields: map[string]any{"spec": map[string]any{
			// Usable from the monitoring namespace only, though cluster-scoped.
			"conditions": []any{map[string]any{"namespaces": []any{a.namespace()}}},
			"provider": map[string]any{"aws": map[string]any{
				"service": "SecretsManager",
				"region":  s.Region,
				"auth": map[string]any{"jwt": map[string]any{"serviceAccountRef": map[string]any{
					"name": s.ServiceAccount, "namespace": s.ServiceAccountNamespace,
				}}},
			}},
		}},
	}, s.Release, opts...)
	if err != nil {
		return syncedSecrets{}, err
	}
	external := func(target string, templated map[string]any, properties map[string]string) (pulumi.Resource, error) {
		var data pulumi.Array
		for _, key := range sortedKeys(properties) {
			data = append(data, pulumi.Map{
				"secretKey": pulumi.String(key),
				"remoteRef": pulumi.Map{"key": s.SecretARN, "property": pulumi.String(properties[key])},
			})
		}
		return k8sbase.CustomResource(ctx, name+"-"+target, k8sbase.Object{
			APIVersion: s.APIVersion, Kind: "ExternalSecret", Name: target, Namespace: a.namespace(),
			Fields: map[string]any{"spec": pulumi.Map{
				"refreshInterval": pulumi.String(secretsRefresh),
				"secretStoreRef":  pulumi.Map{"kind": pulumi.String("ClusterSecretStore"), "name": pulumi.String(clusterStoreName)},
				"target": pulumi.Map{
					"name":           pulumi.String(target),
					"creationPolicy": pulumi.String("Owner"),
					"template":       pulumi.ToMap(map[string]any{"engineVersion": "v2", "data": templated}),
				},
				"data": data,
			}},
		}, s.Release, append(opts, pulumi.DependsOn([]pulumi.Resource{store}))...)
	}
	grafana, err := external(GrafanaAdminSecret,
		map[string]any{"admin-user": "admin", "admin-password": "{{ .password }}"},
		map[string]string{"password": GrafanaPasswordKey})
	if err != nil {
		return syncedSecrets{}, err
	}
	exporters, err := external(ExporterSecret,
		ExporterSecretTemplate(),
		map[string]string{"dsn": DatabaseURLKey, "redis": RedisURLKey})
	if err != nil {
		return syncedSecrets{}, err
	}
	return syncedSecrets{grafana: grafana, exporters: exporters}, nil
}

// ExporterSecretTemplate is the External Secrets template of the exporters' Secret. The app's connection string
// carries Prisma's pool parameters, which postgres_exporter's driver would send to the server as settings and be
// refused for; only sslmode is kept.
func ExporterSecretTemplate() map[string]any {
	return map[string]any{"DATA_SOURCE_NAME": exporterDSNTemplate, "REDIS_ADDR": "{{ .redis }}"}
}

// tracing runs the OpenTelemetry Collector (OTLP in, traces to Jaeger) and Jaeger with in-memory storage for
// viewing recent traces.
func tracing(ctx *pulumi.Context, name string, a Args, opts ...pulumi.ResourceOption) error {
	ns := a.namespace()
	labels := pulumi.StringMap{"app.kubernetes.io/name": pulumi.String(JaegerName)}
	port := func(portName string, n int) *corev1.ContainerPortArgs {
		return &corev1.ContainerPortArgs{Name: pulumi.String(portName), ContainerPort: pulumi.Int(n)}
	}
	deployment, err := appsv1.NewDeployment(ctx, name+"-jaeger", &appsv1.DeploymentArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(JaegerName), Namespace: pulumi.String(ns), Labels: labels},
		Spec: &appsv1.DeploymentSpecArgs{
			// In-memory storage: one replica, traces are lost on restart (Jaeger here is for looking, not keeping).
			Replicas: pulumi.Int(1),
			Selector: &metav1.LabelSelectorArgs{MatchLabels: labels},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: labels},
				Spec: &corev1.PodSpecArgs{
					AutomountServiceAccountToken: pulumi.Bool(false),
					SecurityContext: &corev1.PodSecurityContextArgs{
						RunAsNonRoot:   pulumi.Bool(true),
						RunAsUser:      pulumi.Int(10001),
						RunAsGroup:     pulumi.Int(10001),
						SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
					},
					Containers: corev1.ContainerArray{&corev1.ContainerArgs{
						Name:  pulumi.String("jaeger"),
						Image: pulumi.String(JaegerImage),
						Ports: corev1.ContainerPortArray{port("otlp-grpc", 4317), port("otlp-http", 4318), port("ui", 16686), port("health", 13133)},
						ReadinessProbe: &corev1.ProbeArgs{
							HttpGet: &corev1.HTTPGetActionArgs{Path: pulumi.String("/status"), Port: pulumi.String("health")},
						},
						LivenessProbe: &corev1.ProbeArgs{
							HttpGet:             &corev1.HTTPGetActionArgs{Path: pulumi.String("/status"), Port: pulumi.String("health")},
							InitialDelaySeconds: pulumi.Int(10),
						},
						Resources: &corev1.ResourceRequirementsArgs{
							Requests: pulumi.StringMap{"cpu": pulumi.String("100m"), "memory": pulumi.String("256Mi")},
							Limits:   pulumi.StringMap{"cpu": pulumi.String("1"), "memory": pulumi.String("1Gi")},
						},
						SecurityContext: &corev1.SecurityContextArgs{
							AllowPrivilegeEscalation: pulumi.Bool(false),
							ReadOnlyRootFilesystem:   pulumi.Bool(true),
							Capabilities:             &corev1.CapabilitiesArgs{Drop: pulumi.StringArray{pulumi.String("ALL")}},
						},
						VolumeMounts: corev1.VolumeMountArray{&corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")}},
					}},
					Volumes: corev1.VolumeArray{&corev1.VolumeArgs{Name: pulumi.String("tmp"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{}}},
				},
			},
		},
	}, opts...)
	if err != nil {
		return err
	}
	servicePort := func(portName string, n int) *corev1.ServicePortArgs {
		return &corev1.ServicePortArgs{Name: pulumi.String(portName), Port: pulumi.Int(n), TargetPort: pulumi.String(portName)}
	}
	if _, err := corev1.NewService(ctx, name+"-jaeger", &corev1.ServiceArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(JaegerName), Namespace: pulumi.String(ns), Labels: labels},
		Spec: &corev1.ServiceSpecArgs{
			Selector: labels,
			Ports:    corev1.ServicePortArray{servicePort("otlp-grpc", 4317), servicePort("ui", 16686)},
		},
	}, append(opts, pulumi.DependsOn([]pulumi.Resource{deployment}))...); err != nil {
		return err
	}
	_, err = k8sbase.Release(ctx, name+"-collector", k8sbase.ReleaseArgs{
		Chart: CollectorChart, ReleaseName: CollectorName, Namespace: ns, Values: CollectorValues(a),
	}, opts...)
	return err
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
