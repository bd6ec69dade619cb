// Package config turns a stack's Pulumi configuration into one typed, validated
// struct. It is read once, before any resource is registered, so a bad value
// stops the run with a message that names the key and what is allowed.
package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Namespace is the Pulumi project name, and so the prefix of every key this
// program reads (stackauth:region, stackauth:domain, ...).
const Namespace = "stackauth"

// Stack is everything the program needs to know about one environment.
type Stack struct {
	// Name is the Pulumi stack name (prod, staging, local).
	Name string
	// Cloud is "aws" (VPC, EKS, RDS, ElastiCache) or "local" (any cluster).
	Cloud string
	// Production turns on the guarantees prod data needs: deletion protection,
	// Pulumi protect, multi-AZ, long backups, final snapshots.
	Production bool
	Region     string

	Domain        string
	APIHost       string
	DashboardHost string
	AcmeEmail     string

	Network  Network
	Cluster  Cluster
	Database Database
	Cache    Cache
	App      App
	Gateway  Gateway
	Email    Email
	OAuth    OAuth
	Addons   Addons
	NodePool NodePool

	Monitoring Monitoring
	Local      Local

	// Secrets holds the optional third-party secrets set with
	// `pulumi config set --secret`, keyed by the env var the image reads.
	Secrets map[string]pulumi.StringOutput
}

// Network is the VPC layout.
type Network struct {
	CIDR             string
	AZCount          int
	NatGatewayPerAZ  bool
	FlowLogRetention int
}

// Cluster is the EKS control plane and its managed node group.
type Cluster struct {
	KubernetesVersion  string
	NodeInstanceTypes  []string
	NodeMinSize        int
	NodeDesiredSize    int
	NodeMaxSize        int
	NodeDiskSizeGB     int
	PublicAccessCIDRs  []string
	CIRoleARN          string
	CIReadOnlyRoleARN  string
	LogRetentionInDays int
}

// Database is the RDS PostgreSQL instance and the guide's tuning.
type Database struct {
	InstanceClass        string
	EngineVersion        string
	AllocatedStorageGB   int
	MaxAllocatedStorage  int
	MultiAZ              bool
	DeletionProtection   bool
	BackupRetentionDays  int
	MaxConnections       int
	SharedBuffersMB      int
	EffectiveCacheSizeMB int
	WorkMemMB            int

	// PoolSize is the Prisma pool of each Stack Auth pod (connection_limit), the guide's POOL_SIZE.
	PoolSize int
	// PoolTimeoutSeconds is how long a query waits for a pooled connection (pool_timeout, and the proxy's borrow
	// timeout) before it fails.
	PoolTimeoutSeconds int
	// Proxy puts RDS Proxy between the pods and the instance.
	Proxy bool
	// ProxyMaxConnectionsPercent is the share of MaxConnections the proxy may open to the instance.
	ProxyMaxConnectionsPercent int
}

// Cache is the ElastiCache replication group the rate limiter uses.
type Cache struct {
	Engine           string
	EngineVersion    string
	NodeType         string
	ReplicasPerShard int
	SnapshotDays     int
}

// App is the Stack Auth workload.
type App struct {
	ImageRepository string
	ImageTag        string
	MinReplicas     int
	MaxReplicas     int
	CPURequest      string
	MemoryRequest   string
	CPULimit        string
	MemoryLimit     string
	// NodeHeapMB is --max-old-space-size in NODE_OPTIONS, read by both Node processes of the pod.
	NodeHeapMB int
}

// Gateway is the rate-limit gateway workload in front of the API.
type Gateway struct {
	MinReplicas int
	MaxReplicas int
	// MaxConcurrentRequests is MAX_CONCURRENT_REQUESTS of each replica: requests in flight beyond it are shed with
	// 503 and Retry-After before they reach the API pods.
	MaxConcurrentRequests int
	// Requests of each gateway pod; the NodePool capacity check counts them.
	CPURequest    string
	MemoryRequest string

	// Limits of each gateway pod.
	CPULimit    string
	MemoryLimit string
	// ProjectID is the Stack Auth project whose access tokens the gateway verifies, so its users count per user.
	ProjectID string
	// ImageVersion is the version and tag of the gateway image; empty: derived from the source's last commit.
	ImageVersion string
	// RulesFile replaces the built-in rate limit rules (relative to the project directory); empty: the defaults.
	RulesFile string
}

// Email is the SMTP relay Stack Auth sends mail through.
type Email struct {
	Host     string
	Port     int
	Username string
	Sender   string
}

// OAuth holds the non-secret halves of the OAuth apps.
type OAuth struct {
	GitHubClientID string
	GoogleClientID string
}

// APIURL is the public base URL of the Stack Auth API.
func (s *Stack) APIURL() string { return "https://" + s.APIHost }

// DashboardURL is the public base URL of the Stack Auth dashboard.
func (s *Stack) DashboardURL() string { return "https://" + s.DashboardHost }

// Namespace is the Kubernetes namespace the stack's workloads live in.
func (s *Stack) Namespace() string { return "stack-auth-" + s.Name }

// Source is where raw config values come from: the Pulumi engine in a real run,
// a map in the offline plan and in tests.
type Source interface {
	// Get returns the raw value of a full key ("stackauth:region").
	Get(key string) (string, bool)
	// IsSecret says whether the key was set as a secret.
	IsSecret(key string) bool
}

// Load reads and validates the stack's configuration from the engine.
func Load(ctx *pulumi.Context) (*Stack, error) {
	return Parse(ctx.Stack(), contextSource{ctx})
}

type contextSource struct{ ctx *pulumi.Context }

func (c contextSource) Get(key string) (string, bool) { return c.ctx.GetConfig(key) }
func (c contextSource) IsSecret(key string) bool      { return c.ctx.IsConfigSecret(key) }

// Error lists every invalid key of a stack at once, so one run shows them all.
type Error struct {
	Stack    string
	Problems []string
}

func (e *Error) Error() string {
	return fmt.Sprintf("invalid configuration for stack %q:\n  %s", e.Stack, strings.Join(e.Problems, "\n  "))
}

// Parse reads every key the schema knows from src, applies the schema's
// parsing and the cross-field rules, and returns the typed stack or an *Error.
func Parse(stack string, src Source) (*Stack, error) {
	s := &Stack{Name: stack, Secrets: map[string]pulumi.StringOutput{}}
	r := &reader{src: src}
	for _, f := range Fields {
		f.read(f, r, s)
	}
	if len(r.problems) == 0 {
		validate(s, r)
	}
	if len(r.problems) > 0 {
		sort.Strings(r.problems)
		return nil, &Error{Stack: stack, Problems: r.problems}
	}
	return s, nil
}

// CheckKeys rejects keys of our namespace that the schema does not know, the
// usual result of a typo in a stack file that would otherwise be ignored.
func CheckKeys(stack string, keys []string) error {
	known := map[string]bool{}
	for _, f := range Fields {
		known[FullKey(f.Key)] = true
	}
	var problems []string
	for _, k := range keys {
		ns, _, _ := strings.Cut(k, ":")
		if ns != Namespace && !foreignNamespaces[ns] {
			msg := fmt.Sprintf("%s: unknown namespace %q", k, ns)
			if editDistance(ns, Namespace) <= 2 {
				msg += fmt.Sprintf("; did you mean %s:%s?", Namespace, strings.TrimPrefix(k, ns+":"))
			}
			problems = append(problems, msg)
			continue
		}
		if ns != Namespace || known[k] {
			continue
		}
		msg := fmt.Sprintf("%s: unknown setting", k)
		if near := nearestKey(strings.TrimPrefix(k, Namespace+":")); near != "" {
			msg += fmt.Sprintf("; did you mean %s:%s?", Namespace, near)
		}
		problems = append(problems, msg)
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return &Error{Stack: stack, Problems: problems}
	}
	return nil
}

// foreignNamespaces are the other config namespaces a stack file may carry:
// the providers' own settings and Pulumi's.
var foreignNamespaces = map[string]bool{"aws": true, "kubernetes": true, "random": true, "pulumi": true}

// FullKey prefixes a schema key with the project namespace.
func FullKey(key string) string { return Namespace + ":" + key }

func nearestKey(key string) string {
	best, bestDist := "", 4
	for _, f := range Fields {
		if d := editDistance(strings.ToLower(key), strings.ToLower(f.Key)); d < bestDist {
			best, bestDist = f.Key, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
