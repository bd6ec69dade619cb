package ratelimitgateway

import (
	"fmt"
	"strings"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	autoscalingv2 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/autoscaling/v2"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	policyv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/policy/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/stackauth-platform/infra/components/k8sbase"
)

// RulesAnnotation on the pod template holds the SHA-256 of the rules, so a rules change rolls the pods.
const RulesAnnotation = "stackauth.dev/rules-sha256"

// rulesPath is where the rules ConfigMap is mounted; RULES_FILE points at it.
const rulesDir, rulesFile = "/etc/ratelimit", "rules.yaml"

// Gateway is the rate limiter on the cluster.
type Gateway struct {
	pulumi.ResourceState

	Deployment *appsv1.Deployment
	Service    *corev1.Service
	// ServiceName and HTTPPort are what the edge's HTTPRoute for the API host sends traffic to.
	ServiceName pulumi.StringOutput
	HTTPPort    pulumi.IntOutput
	// PodLabels select the gateway pods (for the API's NetworkPolicy).
	PodLabels pulumi.StringMapOutput
}

// NewGateway registers the gateway's objects. Pass the kubernetes provider in opts (pulumi.Providers).
func NewGateway(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Gateway, error) {
	a := args.withDefaults()
	if err := a.validate(); err != nil {
		return nil, err
	}
	component := &Gateway{}
	if err := ctx.RegisterComponentResource("stackauth:gateway:RateLimitGateway", name, component, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(component)
	waits := pulumi.DependsOn(a.DependsOn)

	selector := PodLabels(a.Name)
	labels := map[string]string{
		"app.kubernetes.io/component":  "gateway",
		"app.kubernetes.io/part-of":    "stack-auth",
		"app.kubernetes.io/managed-by": "pulumi",
	}
	for k, v := range selector {
		labels[k] = v
	}
	meta := func(suffix string, extra map[string]string) *metav1.ObjectMetaArgs {
		l := pulumi.StringMap{}
		for k, v := range labels {
			l[k] = pulumi.String(v)
		}
		for k, v := range extra {
			l[k] = pulumi.String(v)
		}
		return &metav1.ObjectMetaArgs{Name: pulumi.String(a.Name + suffix), Namespace: pulumi.String(a.Namespace), Labels: l}
	}
	matchLabels := &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(selector)}

	sa, err := corev1.NewServiceAccount(ctx, name, &corev1.ServiceAccountArgs{
		Metadata: meta("", nil),
		// The gateway never calls the Kubernetes API.
		AutomountServiceAccountToken: pulumi.Bool(false),
	}, parent, waits)
	if err != nil {
		return nil, err
	}
	rulesMap, err := corev1.NewConfigMap(ctx, name+"-rules", &corev1.ConfigMapArgs{
		Metadata: meta("-rules", nil),
		Data:     pulumi.StringMap{rulesFile: pulumi.String(string(a.Rules))},
	}, parent, waits)
	if err != nil {
		return nil, err
	}

	deployment, err := appsv1.NewDeployment(ctx, name, &appsv1.DeploymentArgs{
		Metadata: meta("", nil),
		Spec: &appsv1.DeploymentSpecArgs{
			// No replicas: the HPA owns the count, and a value here would reset it on every up.
			RevisionHistoryLimit: pulumi.Int(5),
			Selector:             matchLabels,
			Strategy: &appsv1.DeploymentStrategyArgs{
				Type: pulumi.String("RollingUpdate"),
				RollingUpdate: &appsv1.RollingUpdateDeploymentArgs{
					MaxSurge:       pulumi.String("25%"),
					MaxUnavailable: pulumi.Int(0),
				},
			},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{
					Labels:      pulumi.ToStringMap(labels),
					Annotations: pulumi.StringMap{RulesAnnotation: pulumi.String(RulesHash(a.Rules))},
				},
				Spec: podSpec(a, sa.Metadata.Name().Elem(), rulesMap.Metadata.Name().Elem(), selector),
			},
		},
	}, parent, waits)
	if err != nil {
		return nil, err
	}

	service, err := corev1.NewService(ctx, name, &corev1.ServiceArgs{
		Metadata: meta("", nil),
		Spec: &corev1.ServiceSpecArgs{
			Type:     pulumi.String("ClusterIP"),
			Selector: pulumi.ToStringMap(selector),
			Ports: corev1.ServicePortArray{
				&corev1.ServicePortArgs{Name: pulumi.String("http"), Port: pulumi.Int(HTTPPort), TargetPort: pulumi.String("http"), Protocol: pulumi.String("TCP")},
				&corev1.ServicePortArgs{Name: pulumi.String("admin"), Port: pulumi.Int(AdminPort), TargetPort: pulumi.String("admin"), Protocol: pulumi.String("TCP")},
			},
		},
	}, parent, waits)
	if err != nil {
		return nil, err
	}

	if _, err := autoscalingv2.NewHorizontalPodAutoscaler(ctx, name, &autoscalingv2.HorizontalPodAutoscalerArgs{
		Metadata: meta("", nil),
		Spec: &autoscalingv2.HorizontalPodAutoscalerSpecArgs{
			ScaleTargetRef: &autoscalingv2.CrossVersionObjectReferenceArgs{
				ApiVersion: pulumi.String("apps/v1"),
				Kind:       pulumi.String("Deployment"),
				Name:       deployment.Metadata.Name().Elem(),
			},
			MinReplicas: pulumi.Int(a.Replicas.Min),
			MaxReplicas: pulumi.Int(a.Replicas.Max),
			Metrics: autoscalingv2.MetricSpecArray{&autoscalingv2.MetricSpecArgs{
				Type: pulumi.String("Resource"),
				Resource: &autoscalingv2.ResourceMetricSourceArgs{
					Name:   pulumi.String("cpu"),
					Target: &autoscalingv2.MetricTargetArgs{Type: pulumi.String("Utilization"), AverageUtilization: pulumi.Int(70)},
				},
			}},
		},
	}, parent); err != nil {
		return nil, err
	}

	if _, err := policyv1.NewPodDisruptionBudget(ctx, name, &policyv1.PodDisruptionBudgetArgs{
		Metadata: meta("", nil),
		Spec: &policyv1.PodDisruptionBudgetSpecArgs{
			Selector:       matchLabels,
			MaxUnavailable: pulumi.Int(1),
		},
	}, parent); err != nil {
		return nil, err
	}

	if _, err := networkingv1.NewNetworkPolicy(ctx, name, &networkingv1.NetworkPolicyArgs{
		Metadata: meta("", nil),
		Spec:     networkPolicySpec(a, matchLabels),
	}, parent); err != nil {
		return nil, err
	}

	if m := a.ServiceMonitor; m != nil {
		monitorLabels := map[string]string{}
		for k, v := range labels {
			monitorLabels[k] = v
		}
		for k, v := range m.Labels {
			monitorLabels[k] = v
		}
		if _, err := k8sbase.CustomResource(ctx, name, k8sbase.Object{
			APIVersion: "monitoring.coreos.com/v1",
			Kind:       "ServiceMonitor",
			Name:       a.Name,
			Namespace:  a.Namespace,
			Labels:     monitorLabels,
			Fields: map[string]any{"spec": map[string]any{
				"selector": map[string]any{"matchLabels": selector},
				"endpoints": []any{map[string]any{
					"port":          "admin",
					"path":          "/metrics",
					"interval":      "15s",
					"scrapeTimeout": "10s",
				}},
			}},
		}, m.Release, parent); err != nil {
			return nil, err
		}
	}

	component.Deployment = deployment
	component.Service = service
	component.ServiceName = service.Metadata.Name().Elem()
	component.HTTPPort = pulumi.Int(HTTPPort).ToIntOutput()
	component.PodLabels = pulumi.ToStringMap(selector).ToStringMapOutput()
	if err := ctx.RegisterResourceOutputs(component, pulumi.Map{
		"serviceName": component.ServiceName,
		"httpPort":    component.HTTPPort,
		"podLabels":   component.PodLabels,
	}); err != nil {
		return nil, err
	}
	return component, nil
}

func podSpec(a Args, serviceAccount, rulesConfigMap pulumi.StringInput, selector map[string]string) *corev1.PodSpecArgs {
	env := corev1.EnvVarArray{
		literal("LISTEN_ADDR", fmt.Sprintf(":%d", HTTPPort)),
		literal("ADMIN_ADDR", fmt.Sprintf(":%d", AdminPort)),
		&corev1.EnvVarArgs{Name: pulumi.String("UPSTREAM_URL"), Value: a.Upstream.URL},
		fromSecret("REDIS_URL", a.SecretName, RedisURLKey),
		// credentials.Environment stores the secret under its platform name; the gateway reads this one.
		fromSecret("TRUSTED_CALLER_HMAC_SECRET", a.SecretName, CallerSecretKey),
		literal("TRUSTED_PROXIES", strings.Join(a.TrustedProxies, ",")),
		literal("STACK_AUTH_API_URL", a.PublicAPIURL),
		literal("STACK_AUTH_PROJECT_ID", a.ProjectID),
		&corev1.EnvVarArgs{Name: pulumi.String("STACK_AUTH_JWKS_URL"), Value: a.Upstream.JWKSURL(a.ProjectID)},
		literal("RULES_FILE", rulesDir+"/"+rulesFile),
		literal("MAX_CONCURRENT_REQUESTS", fmt.Sprint(a.MaxConcurrentRequests)),
		literal("DRAIN_TIMEOUT", fmt.Sprintf("%ds", DefaultDrainSeconds)),
		literal("GOMEMLIMIT", memoryLimitBytes(a.Resources.Limits.Memory)),
	}
	probe := func(path string, period, failures int) *corev1.ProbeArgs {
		return &corev1.ProbeArgs{
			HttpGet:          &corev1.HTTPGetActionArgs{Path: pulumi.String(path), Port: pulumi.String("admin")},
			PeriodSeconds:    pulumi.Int(period),
			TimeoutSeconds:   pulumi.Int(2),
			FailureThreshold: pulumi.Int(failures),
		}
	}
	spread := func(key, when string) *corev1.TopologySpreadConstraintArgs {
		return &corev1.TopologySpreadConstraintArgs{
			TopologyKey:       pulumi.String(key),
			MaxSkew:           pulumi.Int(1),
			WhenUnsatisfiable: pulumi.String(when),
			LabelSelector:     &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(selector)},
			// Spread each ReplicaSet on its own, so a rollout does not count the old pods.
			MatchLabelKeys: pulumi.StringArray{pulumi.String("pod-template-hash")},
		}
	}
	return &corev1.PodSpecArgs{
		ServiceAccountName:            serviceAccount,
		AutomountServiceAccountToken:  pulumi.Bool(false),
		EnableServiceLinks:            pulumi.Bool(false),
		TerminationGracePeriodSeconds: pulumi.Int(preStopSeconds + DefaultDrainSeconds + 5),
		SecurityContext: &corev1.PodSecurityContextArgs{
			RunAsNonRoot:   pulumi.Bool(true),
			RunAsUser:      pulumi.Int(65532),
			RunAsGroup:     pulumi.Int(65532),
			SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
		},
		TopologySpreadConstraints: corev1.TopologySpreadConstraintArray{
			spread("topology.kubernetes.io/zone", "DoNotSchedule"),
			spread("kubernetes.io/hostname", "ScheduleAnyway"),
		},
		Containers: corev1.ContainerArray{&corev1.ContainerArgs{
			Name:            pulumi.String("ratelimit"),
			Image:           a.Image,
			ImagePullPolicy: pulumi.String("IfNotPresent"),
			Ports: corev1.ContainerPortArray{
				&corev1.ContainerPortArgs{Name: pulumi.String("http"), ContainerPort: pulumi.Int(HTTPPort), Protocol: pulumi.String("TCP")},
				&corev1.ContainerPortArgs{Name: pulumi.String("admin"), ContainerPort: pulumi.Int(AdminPort), Protocol: pulumi.String("TCP")},
			},
			Env:            env,
			LivenessProbe:  probe("/health", 10, 3),
			ReadinessProbe: probe("/ready", 5, 2),
			Lifecycle: &corev1.LifecycleArgs{
				PreStop: &corev1.LifecycleHandlerArgs{Sleep: &corev1.SleepActionArgs{Seconds: pulumi.Int(preStopSeconds)}},
			},
			Resources: &corev1.ResourceRequirementsArgs{
				Requests: pulumi.StringMap{"cpu": pulumi.String(a.Resources.Requests.CPU), "memory": pulumi.String(a.Resources.Requests.Memory)},
				Limits:   pulumi.StringMap{"cpu": pulumi.String(a.Resources.Limits.CPU), "memory": pulumi.String(a.Resources.Limits.Memory)},
			},
			SecurityContext: &corev1.SecurityContextArgs{
				AllowPrivilegeEscalation: pulumi.Bool(false),
				ReadOnlyRootFilesystem:   pulumi.Bool(true),
				RunAsNonRoot:             pulumi.Bool(true),
				Capabilities:             &corev1.CapabilitiesArgs{Drop: pulumi.StringArray{pulumi.String("ALL")}},
			},
			VolumeMounts: corev1.VolumeMountArray{&corev1.VolumeMountArgs{
				Name: pulumi.String("rules"), MountPath: pulumi.String(rulesDir), ReadOnly: pulumi.Bool(true),
			}},
		}},
		Volumes: corev1.VolumeArray{&corev1.VolumeArgs{
			Name:      pulumi.String("rules"),
			ConfigMap: &corev1.ConfigMapVolumeSourceArgs{Name: rulesConfigMap},
		}},
	}
}

// networkPolicySpec admits the edge to the traffic port and Prometheus (if any) to the admin port, and lets the
// gateway out to the Stack Auth API pods, Redis and cluster DNS only.
func networkPolicySpec(a Args, pods *metav1.LabelSelectorArgs) *networkingv1.NetworkPolicySpecArgs {
	tcp := func(port int) networkingv1.NetworkPolicyPortArray {
		return networkingv1.NetworkPolicyPortArray{&networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String("TCP"), Port: pulumi.Int(port)}}
	}
	fromNamespace := func(ns string) networkingv1.NetworkPolicyPeerArray {
		return networkingv1.NetworkPolicyPeerArray{&networkingv1.NetworkPolicyPeerArgs{
			NamespaceSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{"kubernetes.io/metadata.name": pulumi.String(ns)}},
		}}
	}
	ingress := networkingv1.NetworkPolicyIngressRuleArray{
		&networkingv1.NetworkPolicyIngressRuleArgs{From: fromNamespace(a.EdgeNamespace), Ports: tcp(HTTPPort)},
	}
	if a.ServiceMonitor != nil {
		ingress = append(ingress, &networkingv1.NetworkPolicyIngressRuleArgs{From: fromNamespace(a.ServiceMonitor.Namespace), Ports: tcp(AdminPort)})
	}
	var redis networkingv1.NetworkPolicyPeerArray
	for _, c := range a.RedisCIDRs {
		redis = append(redis, &networkingv1.NetworkPolicyPeerArgs{IpBlock: &networkingv1.IPBlockArgs{Cidr: pulumi.String(c)}})
	}
	return &networkingv1.NetworkPolicySpecArgs{
		PodSelector: pods,
		PolicyTypes: pulumi.StringArray{pulumi.String("Ingress"), pulumi.String("Egress")},
		Ingress:     ingress,
		Egress: networkingv1.NetworkPolicyEgressRuleArray{
			&networkingv1.NetworkPolicyEgressRuleArgs{
				To:    networkingv1.NetworkPolicyPeerArray{&networkingv1.NetworkPolicyPeerArgs{PodSelector: &metav1.LabelSelectorArgs{MatchLabels: a.Upstream.PodLabels}}},
				Ports: networkingv1.NetworkPolicyPortArray{&networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String("TCP"), Port: a.Upstream.Port}},
			},
			&networkingv1.NetworkPolicyEgressRuleArgs{To: redis, Ports: tcp(a.RedisPort)},
			&networkingv1.NetworkPolicyEgressRuleArgs{
				To: networkingv1.NetworkPolicyPeerArray{&networkingv1.NetworkPolicyPeerArgs{
					NamespaceSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{"kubernetes.io/metadata.name": pulumi.String("kube-system")}},
					PodSelector:       &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{"k8s-app": pulumi.String("kube-dns")}},
				}},
				Ports: networkingv1.NetworkPolicyPortArray{
					&networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String("UDP"), Port: pulumi.Int(53)},
					&networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String("TCP"), Port: pulumi.Int(53)},
				},
			},
		},
	}
}

func literal(name, value string) *corev1.EnvVarArgs {
	return &corev1.EnvVarArgs{Name: pulumi.String(name), Value: pulumi.String(value)}
}

func fromSecret(name, secret, key string) *corev1.EnvVarArgs {
	return &corev1.EnvVarArgs{Name: pulumi.String(name), ValueFrom: &corev1.EnvVarSourceArgs{
		SecretKeyRef: &corev1.SecretKeySelectorArgs{Name: pulumi.String(secret), Key: pulumi.String(key)},
	}}
}
