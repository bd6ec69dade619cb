package config

import (
	"encoding/json"
	"fmt"
	"net"
	"net/mail"
	"regexp"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Field is one setting of the schema. Pulumi.yaml declares the same keys with
// their type, description and default; a test keeps the two in step.
type Field struct {
	Key string
	// Type is the Pulumi.yaml schema type: string, integer, boolean or array.
	Type string
	// Optional fields may be absent; all others get a default from Pulumi.yaml.
	Optional bool
	// Secret fields must be set with `pulumi config set --secret`.
	Secret bool
	read   func(f Field, r *reader, s *Stack)
}

type reader struct {
	src      Source
	problems []string
}

func (r *reader) fail(key, format string, args ...any) {
	r.problems = append(r.problems, FullKey(key)+": "+fmt.Sprintf(format, args...))
}

func (r *reader) raw(f Field) (string, bool) {
	v, ok := r.src.Get(FullKey(f.Key))
	if !ok && !f.Optional {
		r.fail(f.Key, "missing; set it in Pulumi.<stack>.yaml (its default lives in Pulumi.yaml)")
	}
	return v, ok
}

func stringField(key string, dst func(*Stack) *string, check func(string) error) Field {
	f := Field{Key: key, Type: "string"}
	f.read = func(f Field, r *reader, s *Stack) {
		v, ok := r.raw(f)
		if !ok || (v == "" && f.Optional) {
			return
		}
		if check != nil {
			if err := check(v); err != nil {
				r.fail(key, "%q %v", v, err)
				return
			}
		}
		*dst(s) = v
	}
	return f
}

func optionalString(key string, dst func(*Stack) *string, check func(string) error) Field {
	f := stringField(key, dst, check)
	f.Optional = true
	return f
}

func intField(key string, dst func(*Stack) *int, lo, hi int) Field {
	f := Field{Key: key, Type: "integer"}
	f.read = func(f Field, r *reader, s *Stack) {
		v, ok := r.raw(f)
		if !ok {
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			r.fail(key, "%q is not a whole number; allowed: %d..%d", v, lo, hi)
			return
		}
		if n < lo || n > hi {
			r.fail(key, "%d is out of range; allowed: %d..%d", n, lo, hi)
			return
		}
		*dst(s) = n
	}
	return f
}

func boolField(key string, dst func(*Stack) *bool) Field {
	f := Field{Key: key, Type: "boolean"}
	f.read = func(f Field, r *reader, s *Stack) {
		v, ok := r.raw(f)
		if !ok {
			return
		}
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			r.fail(key, "%q is not a boolean; allowed: true or false", v)
			return
		}
		*dst(s) = b
	}
	return f
}

func listField(key string, dst func(*Stack) *[]string, check func(string) error) Field {
	f := Field{Key: key, Type: "array"}
	f.read = func(f Field, r *reader, s *Stack) {
		v, ok := r.raw(f)
		if !ok {
			return
		}
		var items []string
		if err := json.Unmarshal([]byte(v), &items); err != nil {
			r.fail(key, "%q is not a list of strings; write it as a YAML list", v)
			return
		}
		for _, item := range items {
			if err := check(item); err != nil {
				r.fail(key, "item %q %v", item, err)
				return
			}
		}
		*dst(s) = items
	}
	return f
}

func optionalList(key string, dst func(*Stack) *[]string, check func(string) error) Field {
	f := listField(key, dst, check)
	f.Optional = true
	return f
}

// secretField reads an optional third-party secret into Stack.Secrets under
// the env var name the Stack Auth image reads. A value set in clear would sit
// in the stack file and the state unencrypted, so it is refused.
func secretField(key, env string) Field {
	f := Field{Key: key, Type: "string", Optional: true, Secret: true}
	f.read = func(f Field, r *reader, s *Stack) {
		v, ok := r.raw(f)
		if !ok || v == "" {
			return
		}
		if !r.src.IsSecret(FullKey(key)) {
			r.fail(key, "is set in clear; set it with `pulumi config set --secret %s <value>`", key)
			return
		}
		s.Secrets[env] = pulumi.ToSecret(pulumi.String(v)).(pulumi.StringOutput)
	}
	return f
}

// ThirdPartySecret maps the seed guide's logical secret names onto the config
// key that carries each and the env var the real Stack Auth image reads.
type ThirdPartySecret struct {
	Seed string
	Key  string
	Env  string
}

// ThirdPartySecrets is the one place the guide's secret names are translated.
var ThirdPartySecrets = []ThirdPartySecret{
	{Seed: "GOOGLE_CLIENT_SECRET", Key: "googleClientSecret", Env: "STACK_GOOGLE_CLIENT_SECRET"},
	{Seed: "GITHUB_CLIENT_SECRET", Key: "githubClientSecret", Env: "STACK_GITHUB_CLIENT_SECRET"},
	{Seed: "SENTRY_DSN", Key: "sentryDsn", Env: "NEXT_PUBLIC_SENTRY_DSN"},
	{Seed: "STRIPE_SECRET_KEY", Key: "stripeSecretKey", Env: "STACK_STRIPE_SECRET_KEY"},
	{Seed: "STRIPE_WEBHOOK_SECRET", Key: "stripeWebhookSecret", Env: "STACK_STRIPE_WEBHOOK_SECRET"},
	// Resend is reached over SMTP: the API key is the SMTP password.
	{Seed: "RESEND_API_KEY", Key: "emailPassword", Env: "STACK_EMAIL_PASSWORD"},
}

var (
	regionPattern       = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]?)?-(central|north|south|east|west|northeast|northwest|southeast|southwest)-[1-9]$`)
	hostPattern         = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
	instanceTypePattern = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[0-9]*[a-z]+$`)
	dbClassPattern      = regexp.MustCompile(`^db\.[a-z][a-z0-9-]*\.[0-9]*[a-z]+$`)
	cacheNodePattern    = regexp.MustCompile(`^cache\.[a-z][a-z0-9-]*\.[0-9]*[a-z]+$`)
	roleARNPattern      = regexp.MustCompile(`^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$`)
	quantityPattern     = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi)?$`)
	imageRepoPattern    = regexp.MustCompile(`^[a-z0-9]+([._/-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*$`)
	imageTagPattern     = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	zoneIDPattern       = regexp.MustCompile(`^Z[A-Z0-9]{1,31}$`)
	amiAliasPattern     = regexp.MustCompile(`^al2023@(latest|v[0-9]{8})$`)
)

func oneOf(allowed ...string) func(string) error {
	return func(v string) error {
		for _, a := range allowed {
			if v == a {
				return nil
			}
		}
		return fmt.Errorf("is not allowed; allowed: %s", strings.Join(allowed, ", "))
	}
}

func matches(p *regexp.Regexp, what string) func(string) error {
	return func(v string) error {
		if !p.MatchString(v) {
			return fmt.Errorf("is not %s", what)
		}
		return nil
	}
}

func hostname(v string) error {
	if !hostPattern.MatchString(v) {
		return fmt.Errorf("is not a DNS name; use lower-case labels like auth.example.com")
	}
	return nil
}

func email(v string) error {
	a, err := mail.ParseAddress(v)
	if err != nil || a.Address != v || hostname(v[strings.LastIndex(v, "@")+1:]) != nil {
		return fmt.Errorf("is not an email address; use a plain address like ops@example.com")
	}
	return nil
}

// vpcCIDR is an IPv4 network address of /16 to /20: the network component
// carves three public /+4 and three private /+2 subnets out of it.
func vpcCIDR(v string) error {
	ip, n, err := net.ParseCIDR(v)
	if err != nil || ip.To4() == nil {
		return fmt.Errorf("is not an IPv4 CIDR block; use a form like 10.20.0.0/16")
	}
	if ones, _ := n.Mask.Size(); ones < 16 || ones > 20 {
		return fmt.Errorf("is a /%d; allowed: /16 to /20", ones)
	}
	if !ip.Equal(n.IP) {
		return fmt.Errorf("has host bits set; use the network address %s", n)
	}
	return nil
}

func cidr(v string) error {
	if _, _, err := net.ParseCIDR(v); err != nil {
		return fmt.Errorf("is not a CIDR block; use a form like 203.0.113.0/24")
	}
	return nil
}

// SupportedKubernetesVersions are the EKS versions in standard support in
// December 2026; older ones cost extended-support fees and lose fixes.
var SupportedKubernetesVersions = []string{"1.34", "1.35", "1.36"}

// Fields is the whole schema, in the order Pulumi.yaml lists it.
var Fields = []Field{
	stringField("cloud", func(s *Stack) *string { return &s.Cloud }, oneOf("aws", "local")),
	boolField("production", func(s *Stack) *bool { return &s.Production }),
	stringField("region", func(s *Stack) *string { return &s.Region }, matches(regionPattern, "an AWS region; use a code like us-east-1 or eu-west-2")),
	stringField("domain", func(s *Stack) *string { return &s.Domain }, hostname),
	optionalString("apiHost", func(s *Stack) *string { return &s.APIHost }, hostname),
	optionalString("dashboardHost", func(s *Stack) *string { return &s.DashboardHost }, hostname),
	stringField("acmeEmail", func(s *Stack) *string { return &s.AcmeEmail }, email),

	stringField("vpcCidr", func(s *Stack) *string { return &s.Network.CIDR }, vpcCIDR),
	intField("availabilityZones", func(s *Stack) *int { return &s.Network.AZCount }, 2, 3),
	boolField("natGatewayPerAz", func(s *Stack) *bool { return &s.Network.NatGatewayPerAZ }),
	intField("flowLogRetentionDays", func(s *Stack) *int { return &s.Network.FlowLogRetention }, 1, 3653),

	stringField("kubernetesVersion", func(s *Stack) *string { return &s.Cluster.KubernetesVersion }, oneOf(SupportedKubernetesVersions...)),
	listField("nodeInstanceTypes", func(s *Stack) *[]string { return &s.Cluster.NodeInstanceTypes }, matches(instanceTypePattern, "an EC2 instance type like m7i.2xlarge")),
	intField("nodeMinSize", func(s *Stack) *int { return &s.Cluster.NodeMinSize }, 1, 100),
	intField("nodeDesiredSize", func(s *Stack) *int { return &s.Cluster.NodeDesiredSize }, 1, 100),
	intField("nodeMaxSize", func(s *Stack) *int { return &s.Cluster.NodeMaxSize }, 1, 100),
	intField("nodeDiskSizeGb", func(s *Stack) *int { return &s.Cluster.NodeDiskSizeGB }, 20, 2000),
	optionalList("clusterPublicAccessCidrs", func(s *Stack) *[]string { return &s.Cluster.PublicAccessCIDRs }, cidr),
	optionalString("ciRoleArn", func(s *Stack) *string { return &s.Cluster.CIRoleARN }, matches(roleARNPattern, "an IAM role ARN like arn:aws:iam::123456789012:role/ci")),
	optionalString("ciReadOnlyRoleArn", func(s *Stack) *string { return &s.Cluster.CIReadOnlyRoleARN }, matches(roleARNPattern, "an IAM role ARN like arn:aws:iam::123456789012:role/ci-readonly")),
	intField("clusterLogRetentionDays", func(s *Stack) *int { return &s.Cluster.LogRetentionInDays }, 1, 3653),

	stringField("dbInstanceClass", func(s *Stack) *string { return &s.Database.InstanceClass }, matches(dbClassPattern, "an RDS instance class like db.r7g.xlarge")),
	stringField("dbEngineVersion", func(s *Stack) *string { return &s.Database.EngineVersion }, oneOf("16", "17")),
	intField("dbAllocatedStorageGb", func(s *Stack) *int { return &s.Database.AllocatedStorageGB }, 20, 65536),
	intField("dbMaxAllocatedStorageGb", func(s *Stack) *int { return &s.Database.MaxAllocatedStorage }, 20, 65536),
	boolField("dbMultiAz", func(s *Stack) *bool { return &s.Database.MultiAZ }),
	boolField("dbDeletionProtection", func(s *Stack) *bool { return &s.Database.DeletionProtection }),
	intField("dbBackupRetentionDays", func(s *Stack) *int { return &s.Database.BackupRetentionDays }, 1, 35),
	intField("dbMaxConnections", func(s *Stack) *int { return &s.Database.MaxConnections }, 50, 5000),
	intField("dbSharedBuffersMb", func(s *Stack) *int { return &s.Database.SharedBuffersMB }, 128, 262144),
	intField("dbEffectiveCacheSizeMb", func(s *Stack) *int { return &s.Database.EffectiveCacheSizeMB }, 128, 1048576),
	intField("dbWorkMemMb", func(s *Stack) *int { return &s.Database.WorkMemMB }, 1, 2048),

	stringField("cacheEngine", func(s *Stack) *string { return &s.Cache.Engine }, oneOf("valkey", "redis")),
	stringField("cacheEngineVersion", func(s *Stack) *string { return &s.Cache.EngineVersion }, oneOf("7.1", "7.2", "8.0")),
	stringField("cacheNodeType", func(s *Stack) *string { return &s.Cache.NodeType }, matches(cacheNodePattern, "an ElastiCache node type like cache.m7g.large")),
	intField("cacheReplicasPerShard", func(s *Stack) *int { return &s.Cache.ReplicasPerShard }, 0, 5),
	intField("cacheSnapshotRetentionDays", func(s *Stack) *int { return &s.Cache.SnapshotDays }, 0, 35),

	stringField("imageRepository", func(s *Stack) *string { return &s.App.ImageRepository }, matches(imageRepoPattern, "an image repository like stackauth/server")),
	stringField("imageTag", func(s *Stack) *string { return &s.App.ImageTag }, pinnedTag),
	intField("apiMinReplicas", func(s *Stack) *int { return &s.App.MinReplicas }, 1, 500),
	intField("apiMaxReplicas", func(s *Stack) *int { return &s.App.MaxReplicas }, 1, 500),
	stringField("apiCpuRequest", func(s *Stack) *string { return &s.App.CPURequest }, quantity),
	stringField("apiMemoryRequest", func(s *Stack) *string { return &s.App.MemoryRequest }, quantity),
	stringField("apiCpuLimit", func(s *Stack) *string { return &s.App.CPULimit }, quantity),
	stringField("apiMemoryLimit", func(s *Stack) *string { return &s.App.MemoryLimit }, quantity),

	intField("gatewayMinReplicas", func(s *Stack) *int { return &s.Gateway.MinReplicas }, 1, 100),
	intField("gatewayMaxReplicas", func(s *Stack) *int { return &s.Gateway.MaxReplicas }, 1, 100),
	stringField("gatewayCpuRequest", func(s *Stack) *string { return &s.Gateway.CPURequest }, quantity),
	stringField("gatewayMemoryRequest", func(s *Stack) *string { return &s.Gateway.MemoryRequest }, quantity),

	optionalString("emailHost", func(s *Stack) *string { return &s.Email.Host }, hostname),
	intField("emailPort", func(s *Stack) *int { return &s.Email.Port }, 1, 65535),
	optionalString("emailUsername", func(s *Stack) *string { return &s.Email.Username }, nil),
	optionalString("emailSender", func(s *Stack) *string { return &s.Email.Sender }, email),
	optionalString("githubClientId", func(s *Stack) *string { return &s.OAuth.GitHubClientID }, nil),
	optionalString("googleClientId", func(s *Stack) *string { return &s.OAuth.GoogleClientID }, nil),

	// Capacity and the connection budget (config/capacity.go): the guide's application tuning, applied where it
	// takes effect, and RDS Proxy in front of the instance.
	intField("apiNodeHeapMb", func(s *Stack) *int { return &s.App.NodeHeapMB }, 128, 65536),
	intField("dbPoolSize", func(s *Stack) *int { return &s.Database.PoolSize }, 1, 200),
	intField("dbPoolTimeoutSeconds", func(s *Stack) *int { return &s.Database.PoolTimeoutSeconds }, 1, 300),
	boolField("dbProxy", func(s *Stack) *bool { return &s.Database.Proxy }),
	intField("dbProxyMaxConnectionsPercent", func(s *Stack) *int { return &s.Database.ProxyMaxConnectionsPercent }, 1, 100),
	intField("gatewayMaxConcurrentRequests", func(s *Stack) *int { return &s.Gateway.MaxConcurrentRequests }, 1, 100000),

	// Cluster add-ons (components/karpenter, metricsserver, lbcontroller, externaldns): each can be turned off for
	// a cluster that already runs its own; Karpenter's NodePool is sized here and checked against the HPA maxima.
	boolField("addonKarpenter", func(s *Stack) *bool { return &s.Addons.Karpenter }),
	boolField("addonMetricsServer", func(s *Stack) *bool { return &s.Addons.MetricsServer }),
	boolField("addonLoadBalancerController", func(s *Stack) *bool { return &s.Addons.LoadBalancerController }),
	boolField("addonExternalDns", func(s *Stack) *bool { return &s.Addons.ExternalDNS }),
	optionalString("route53ZoneId", func(s *Stack) *string { return &s.Addons.Route53ZoneID }, matches(zoneIDPattern, "a Route53 hosted zone id like Z0123456789ABCDEFGHIJ (no /hostedzone/ prefix)")),
	stringField("karpenterCpuLimit", func(s *Stack) *string { return &s.NodePool.CPULimit }, quantity),
	stringField("karpenterMemoryLimit", func(s *Stack) *string { return &s.NodePool.MemoryLimit }, quantity),
	stringField("karpenterPlatformCpu", func(s *Stack) *string { return &s.NodePool.PlatformCPU }, quantity),
	stringField("karpenterPlatformMemory", func(s *Stack) *string { return &s.NodePool.PlatformMemory }, quantity),
	listField("karpenterCapacityTypes", func(s *Stack) *[]string { return &s.NodePool.CapacityTypes }, oneOf("on-demand", "spot")),
	stringField("karpenterAmiAlias", func(s *Stack) *string { return &s.NodePool.AMIAlias }, matches(amiAliasPattern, "a Karpenter AMI alias like al2023@latest or al2023@v20261201")),

	// The rate-limit gateway's workload and image (components/ratelimitgateway, components/gatewayimage).
	stringField("gatewayCpuLimit", func(s *Stack) *string { return &s.Gateway.CPULimit }, quantity),
	stringField("gatewayMemoryLimit", func(s *Stack) *string { return &s.Gateway.MemoryLimit }, quantity),
	stringField("gatewayProjectId", func(s *Stack) *string { return &s.Gateway.ProjectID }, matches(regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,63}$`), "a Stack Auth project id (internal, or the project's UUID from the dashboard)")),
	optionalString("gatewayImageVersion", func(s *Stack) *string { return &s.Gateway.ImageVersion }, pinnedTag),
	optionalString("gatewayRulesFile", func(s *Stack) *string { return &s.Gateway.RulesFile }, nil),

	// Observability (components/monitoring, config/monitoring.go): Prometheus' retention and volume, tracing,
	// and the README the alerts link to.
	stringField("prometheusRetention", func(s *Stack) *string { return &s.Monitoring.Retention }, retention),
	stringField("prometheusStorageSize", func(s *Stack) *string { return &s.Monitoring.StorageSize }, volumeSize),
	boolField("enableTelemetry", func(s *Stack) *bool { return &s.Monitoring.Telemetry }),
	stringField("runbookUrl", func(s *Stack) *string { return &s.Monitoring.RunbookURL }, runbookURL),
}

func init() {
	for _, t := range ThirdPartySecrets {
		Fields = append(Fields, secretField(t.Key, t.Env))
	}
}

func pinnedTag(v string) error {
	if v == "latest" || !imageTagPattern.MatchString(v) {
		return fmt.Errorf("is not a pinned image tag; use a release like 2.8.39 (never latest)")
	}
	return nil
}

func quantity(v string) error {
	if !quantityPattern.MatchString(v) {
		return fmt.Errorf("is not a Kubernetes quantity; use forms like 500m, 2, 512Mi, 4Gi")
	}
	return nil
}
