// Package localdata runs the data stores of the local stack inside the
// cluster, in place of RDS and ElastiCache: PostgreSQL and Redis from their
// official images as StatefulSets on the cluster's default StorageClass, with
// generated passwords held in Kubernetes Secrets the program writes.
package localdata

import (
	"fmt"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Args describe the two stores.
type Args struct {
	Namespace        pulumi.StringInput
	PostgresImage    string
	RedisImage       string
	PostgresPassword pulumi.StringInput
	RedisPassword    pulumi.StringInput
	// PostgresClients and RedisClients select the pods allowed to connect.
	PostgresClients map[string]string
	RedisClients    map[string]string
	StorageSize     string
}

// Data is the local data component.
type Data struct {
	pulumi.ResourceState

	PostgresHost pulumi.StringOutput
	RedisHost    pulumi.StringOutput
}

// Ports the stores listen on, as their managed AWS counterparts do.
const (
	PostgresPort = 5432
	RedisPort    = 6379
	// Both official images run their server as uid/gid 999.
	storeUID = 999
)

// Names of the objects, fixed so the connection strings can name the hosts.
const (
	PostgresName = "postgres"
	RedisName    = "redis"
	DatabaseUser = "stackauth"
	DatabaseName = "stackauth"
)

// store is what differs between the two StatefulSets.
type store struct {
	name, image, dataPath string
	port                  int
	env                   corev1.EnvVarArray
	args                  []string
	probe                 []string
	clients               map[string]string
	// scratch are extra writable directories the read-only root needs.
	scratch []string
}

// NewData creates the Secrets, StatefulSets, Services and NetworkPolicies.
func NewData(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Data, error) {
	d := &Data{}
	if err := ctx.RegisterComponentResource("stackauth:localdata:Data", name, d, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(d)

	secret, err := corev1.NewSecret(ctx, name+"-passwords", &corev1.SecretArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("stack-auth-data"), Namespace: args.Namespace},
		StringData: pulumi.StringMap{
			"postgres-password": args.PostgresPassword,
			"redis-password":    args.RedisPassword,
		},
	}, parent)
	if err != nil {
		return nil, err
	}
	fromSecret := func(env, key string) *corev1.EnvVarArgs {
		return &corev1.EnvVarArgs{Name: pulumi.String(env), ValueFrom: &corev1.EnvVarSourceArgs{
			SecretKeyRef: &corev1.SecretKeySelectorArgs{Name: secret.Metadata.Name().Elem(), Key: pulumi.String(key)},
		}}
	}

	stores := []store{
		{
			name: PostgresName, image: args.PostgresImage, port: PostgresPort,
			dataPath: "/var/lib/postgresql/data",
			env: corev1.EnvVarArray{
				&corev1.EnvVarArgs{Name: pulumi.String("POSTGRES_USER"), Value: pulumi.String(DatabaseUser)},
				&corev1.EnvVarArgs{Name: pulumi.String("POSTGRES_DB"), Value: pulumi.String(DatabaseName)},
				// A subdirectory, so initdb does not trip over the volume's lost+found.
				&corev1.EnvVarArgs{Name: pulumi.String("PGDATA"), Value: pulumi.String("/var/lib/postgresql/data/pgdata")},
				fromSecret("POSTGRES_PASSWORD", "postgres-password"),
			},
			probe:   []string{"pg_isready", "-U", DatabaseUser, "-d", DatabaseName, "-h", "127.0.0.1"},
			clients: args.PostgresClients,
			scratch: []string{"/var/run/postgresql", "/tmp"},
		},
		{
			name: RedisName, image: args.RedisImage, port: RedisPort, dataPath: "/data",
			env: corev1.EnvVarArray{fromSecret("REDIS_PASSWORD", "redis-password")},
			// $(VAR) is expanded by the kubelet, so the password never sits in the spec.
			args:    []string{"--requirepass", "$(REDIS_PASSWORD)", "--appendonly", "yes", "--dir", "/data"},
			probe:   []string{"sh", "-c", `redis-cli --no-auth-warning -a "$REDIS_PASSWORD" ping | grep -q PONG`},
			clients: args.RedisClients,
			scratch: []string{"/tmp"},
		},
	}
	for _, s := range stores {
		if err := newStore(ctx, name, s, args, parent); err != nil {
			return nil, fmt.Errorf("localdata %s: %w", s.name, err)
		}
	}

	d.PostgresHost = pulumi.Sprintf("%s.%s.svc", PostgresName, args.Namespace)
	d.RedisHost = pulumi.Sprintf("%s.%s.svc", RedisName, args.Namespace)
	if err := ctx.RegisterResourceOutputs(d, pulumi.Map{"postgresHost": d.PostgresHost, "redisHost": d.RedisHost}); err != nil {
		return nil, err
	}
	return d, nil
}

func newStore(ctx *pulumi.Context, prefix string, s store, args *Args, parent pulumi.ResourceOption) error {
	labels := pulumi.StringMap{"app.kubernetes.io/name": pulumi.String(s.name), "app.kubernetes.io/part-of": pulumi.String("stack-auth")}
	meta := &metav1.ObjectMetaArgs{Name: pulumi.String(s.name), Namespace: args.Namespace, Labels: labels}
	port := pulumi.Int(s.port)

	if _, err := corev1.NewService(ctx, prefix+"-"+s.name, &corev1.ServiceArgs{
		Metadata: meta,
		Spec: &corev1.ServiceSpecArgs{
			Selector: labels,
			Ports:    corev1.ServicePortArray{&corev1.ServicePortArgs{Name: pulumi.String(s.name), Port: port, TargetPort: port}},
		},
	}, parent); err != nil {
		return err
	}

	probe := &corev1.ProbeArgs{Exec: &corev1.ExecActionArgs{Command: pulumi.ToStringArray(s.probe)}, PeriodSeconds: pulumi.Int(10), TimeoutSeconds: pulumi.Int(5)}
	mounts := corev1.VolumeMountArray{&corev1.VolumeMountArgs{Name: pulumi.String("data"), MountPath: pulumi.String(s.dataPath)}}
	volumes := corev1.VolumeArray{}
	for i, dir := range s.scratch {
		vol := fmt.Sprintf("scratch-%d", i)
		mounts = append(mounts, &corev1.VolumeMountArgs{Name: pulumi.String(vol), MountPath: pulumi.String(dir)})
		volumes = append(volumes, &corev1.VolumeArgs{Name: pulumi.String(vol), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{}})
	}
	if _, err := appsv1.NewStatefulSet(ctx, prefix+"-"+s.name, &appsv1.StatefulSetArgs{
		Metadata: meta,
		Spec: &appsv1.StatefulSetSpecArgs{
			ServiceName: pulumi.String(s.name),
			Replicas:    pulumi.Int(1),
			Selector:    &metav1.LabelSelectorArgs{MatchLabels: labels},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: labels},
				Spec: &corev1.PodSpecArgs{
					AutomountServiceAccountToken: pulumi.Bool(false),
					SecurityContext: &corev1.PodSecurityContextArgs{
						RunAsNonRoot: pulumi.Bool(true), RunAsUser: pulumi.Int(storeUID), RunAsGroup: pulumi.Int(storeUID), FsGroup: pulumi.Int(storeUID),
						SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
					},
					Containers: corev1.ContainerArray{&corev1.ContainerArgs{
						Name:  pulumi.String(s.name),
						Image: pulumi.String(s.image),
						Args:  pulumi.ToStringArray(s.args),
						Env:   s.env,
						Ports: corev1.ContainerPortArray{&corev1.ContainerPortArgs{Name: pulumi.String(s.name), ContainerPort: port}},
						SecurityContext: &corev1.SecurityContextArgs{
							AllowPrivilegeEscalation: pulumi.Bool(false),
							ReadOnlyRootFilesystem:   pulumi.Bool(true),
							Capabilities:             &corev1.CapabilitiesArgs{Drop: pulumi.ToStringArray([]string{"ALL"})},
						},
						Resources: &corev1.ResourceRequirementsArgs{
							Requests: pulumi.StringMap{"cpu": pulumi.String("100m"), "memory": pulumi.String("256Mi")},
							Limits:   pulumi.StringMap{"cpu": pulumi.String("1"), "memory": pulumi.String("1Gi")},
						},
						StartupProbe:   &corev1.ProbeArgs{Exec: probe.Exec, PeriodSeconds: pulumi.Int(5), FailureThreshold: pulumi.Int(30)},
						ReadinessProbe: probe,
						LivenessProbe:  probe,
						VolumeMounts:   mounts,
					}},
					Volumes: volumes,
				},
			},
			// The cluster's default StorageClass provides the volume.
			VolumeClaimTemplates: corev1.PersistentVolumeClaimTypeArray{&corev1.PersistentVolumeClaimTypeArgs{
				Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("data")},
				Spec: &corev1.PersistentVolumeClaimSpecArgs{
					AccessModes: pulumi.ToStringArray([]string{"ReadWriteOnce"}),
					Resources:   &corev1.VolumeResourceRequirementsArgs{Requests: pulumi.StringMap{"storage": pulumi.String(args.StorageSize)}},
				},
			}},
		},
	}, parent); err != nil {
		return err
	}

	_, err := networkingv1.NewNetworkPolicy(ctx, prefix+"-"+s.name, &networkingv1.NetworkPolicyArgs{
		Metadata: meta,
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: labels},
			PolicyTypes: pulumi.ToStringArray([]string{"Ingress", "Egress"}),
			Ingress: networkingv1.NetworkPolicyIngressRuleArray{&networkingv1.NetworkPolicyIngressRuleArgs{
				From:  networkingv1.NetworkPolicyPeerArray{&networkingv1.NetworkPolicyPeerArgs{PodSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(s.clients)}}},
				Ports: networkingv1.NetworkPolicyPortArray{&networkingv1.NetworkPolicyPortArgs{Port: port, Protocol: pulumi.String("TCP")}},
			}},
			// No egress at all: a data store calls nobody.
		},
	}, parent)
	return err
}
