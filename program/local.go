package program

import (
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/stackauth-platform/infra/components/credentials"
	"github.com/stackauth-platform/infra/components/localdata"
	"github.com/stackauth-platform/infra/components/stackauth"
	"github.com/stackauth-platform/infra/config"
)

// privateRanges stand in for the VPC on a local cluster, whose pod network is
// not known ahead: the in-cluster stores and the edge's pods live in them.
var privateRanges = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}

// localFoundation is the local stack's stand-in for the AWS half: the cluster
// of the kubeconfig's context, and the same generated credentials.
func localFoundation(ctx *pulumi.Context, cfg *config.Stack) (*Foundation, error) {
	args := &kubernetes.ProviderArgs{EnableServerSideApply: pulumi.Bool(true)}
	if cfg.Local.KubeContext != "" {
		args.Context = pulumi.String(cfg.Local.KubeContext)
	}
	k8s, err := kubernetes.NewProvider(ctx, "local", args)
	if err != nil {
		return nil, err
	}
	creds, err := credentials.NewCredentials(ctx, "credentials")
	if err != nil {
		return nil, err
	}
	return &Foundation{Kubernetes: k8s, Credentials: creds}, nil
}

// localSecrets runs PostgreSQL and Redis in the app namespace and writes the
// secret env straight into stack-backend-secrets, the Secret the chart and the
// gateway read; its values stay Pulumi secrets in state.
func localSecrets(ctx *pulumi.Context, cfg *config.Stack, f *Foundation, p *Platform) error {
	inNamespace := []pulumi.ResourceOption{pulumi.Provider(p.Kubernetes), pulumi.DependsOn([]pulumi.Resource{p.Namespace.Resource})}
	data, err := localdata.NewData(ctx, "data", &localdata.Args{
		Namespace:        pulumi.String(p.Namespace.Name),
		PostgresImage:    cfg.Local.PostgresImage,
		RedisImage:       cfg.Local.RedisImage,
		PostgresPassword: f.Credentials.DatabasePassword,
		RedisPassword:    f.Credentials.CacheAuthToken,
		PostgresClients:  map[string]string{"app.kubernetes.io/name": "stack-backend", "app.kubernetes.io/instance": stackauth.DefaultReleaseName},
		RedisClients:     rateLimitGatewayPodLabels,
		StorageSize:      cfg.Local.StorageSize,
	}, inNamespace...)
	if err != nil {
		return err
	}
	env := f.Credentials.Environment(credentials.Endpoints{
		DatabaseHost:   data.PostgresHost,
		DatabasePort:   localdata.PostgresPort,
		DatabaseUser:   localdata.DatabaseUser,
		DatabaseName:   localdata.DatabaseName,
		DatabaseParams: databaseParams(cfg),
		CacheHost:      data.RedisHost,
		CachePort:      localdata.RedisPort,
	}, cfg.Secrets)
	entries := pulumi.StringMap{}
	for k, v := range env {
		entries[k] = v
	}
	secret, err := corev1.NewSecret(ctx, "app-secrets", &corev1.SecretArgs{
		Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String(stackauth.DefaultSecretName), Namespace: pulumi.String(p.Namespace.Name)},
		StringData: entries,
	}, inNamespace...)
	if err != nil {
		return err
	}
	p.AppSecretName = stackauth.DefaultSecretName
	p.AppSecret = secret
	return nil
}
