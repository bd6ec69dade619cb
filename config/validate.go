package config

import (
	"fmt"
	"net"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// CacheNodeMemoryGiB is the memory ElastiCache gives each node type it lists
// here. The guide sizes Redis with maxmemory 3gb, which ElastiCache does not
// let you set: the node type decides, so the stack picks one with room.
var CacheNodeMemoryGiB = map[string]float64{
	"cache.t4g.micro":   0.5,
	"cache.t4g.small":   1.37,
	"cache.t4g.medium":  3.09,
	"cache.m7g.large":   6.38,
	"cache.m7g.xlarge":  12.93,
	"cache.r7g.large":   13.07,
	"cache.r7g.xlarge":  26.32,
	"cache.m6g.large":   6.38,
	"cache.r6g.large":   13.07,
	"cache.r6g.xlarge":  26.32,
	"cache.m7g.2xlarge": 26.04,
}

// guideCacheGiB is the guide's REDIS_MAXMEMORY of 3gb, in GiB.
const guideCacheGiB = 3.0

// cacheVersions are the ElastiCache engine versions each engine offers with a
// parameter group family (redis7, valkey7, valkey8).
var cacheVersions = map[string][]string{
	"redis":  {"7.1"},
	"valkey": {"7.2", "8.0"},
}

func contains(list []string, v string) bool {
	for _, e := range list {
		if e == v {
			return true
		}
	}
	return false
}

// validate applies the rules that relate settings to each other or to the
// environment; single-value rules live with the fields.
func validate(s *Stack, r *reader) {
	if s.APIHost == "" {
		s.APIHost = "api." + s.Domain
	}
	if s.DashboardHost == "" {
		s.DashboardHost = "dashboard." + s.Domain
	}
	if s.APIHost == s.DashboardHost {
		r.fail("dashboardHost", "equals apiHost %q; the API and the dashboard need their own hosts", s.APIHost)
	}

	if s.App.MinReplicas > s.App.MaxReplicas {
		r.fail("apiMinReplicas", "%d is above stackauth:apiMaxReplicas %d; min replicas must not exceed max", s.App.MinReplicas, s.App.MaxReplicas)
	}
	if s.Gateway.MinReplicas > s.Gateway.MaxReplicas {
		r.fail("gatewayMinReplicas", "%d is above stackauth:gatewayMaxReplicas %d; min replicas must not exceed max", s.Gateway.MinReplicas, s.Gateway.MaxReplicas)
	}
	checkResources(r, "apiCpuRequest", s.App.CPURequest, "apiCpuLimit", s.App.CPULimit)
	checkResources(r, "apiMemoryRequest", s.App.MemoryRequest, "apiMemoryLimit", s.App.MemoryLimit)
	checkResources(r, "gatewayCpuRequest", s.Gateway.CPURequest, "gatewayCpuLimit", s.Gateway.CPULimit)
	checkResources(r, "gatewayMemoryRequest", s.Gateway.MemoryRequest, "gatewayMemoryLimit", s.Gateway.MemoryLimit)
	checkNodeHeap(s, r)
	checkConnectionBudget(s, r)

	if s.Database.EffectiveCacheSizeMB < s.Database.SharedBuffersMB {
		r.fail("dbEffectiveCacheSizeMb", "%d is below stackauth:dbSharedBuffersMb %d; the cache estimate includes shared buffers", s.Database.EffectiveCacheSizeMB, s.Database.SharedBuffersMB)
	}
	if s.Database.MaxAllocatedStorage < s.Database.AllocatedStorageGB {
		r.fail("dbMaxAllocatedStorageGb", "%d is below stackauth:dbAllocatedStorageGb %d; it is the autoscaling ceiling", s.Database.MaxAllocatedStorage, s.Database.AllocatedStorageGB)
	}

	if s.Email.Host == "" {
		if _, ok := s.Secrets["STACK_EMAIL_PASSWORD"]; ok {
			r.fail("emailHost", "is empty while stackauth:emailPassword is set; set the SMTP host (smtp.resend.com for Resend)")
		}
	}

	if allowed := cacheVersions[s.Cache.Engine]; !contains(allowed, s.Cache.EngineVersion) {
		r.fail("cacheEngineVersion", "%s is not a version of %s; allowed: %s", s.Cache.EngineVersion, s.Cache.Engine, strings.Join(allowed, ", "))
	}

	if s.Cloud == "local" {
		validateLocal(s, r)
	}
	if s.Cloud == "aws" {
		validateAWS(s, r)
	}
}

func validateAWS(s *Stack, r *reader) {
	c := s.Cluster
	if !(c.NodeMinSize <= c.NodeDesiredSize && c.NodeDesiredSize <= c.NodeMaxSize) {
		r.fail("nodeDesiredSize", "%d must lie within stackauth:nodeMinSize %d and stackauth:nodeMaxSize %d", c.NodeDesiredSize, c.NodeMinSize, c.NodeMaxSize)
	}
	minNodes := 3 // the guide's minimum cluster
	if s.Production {
		minNodes = 5
	}
	if c.NodeMinSize < minNodes {
		r.fail("nodeMinSize", "%d is below %d, the least a %s cluster runs on; raise it", c.NodeMinSize, minNodes, envWord(s))
	}
	if len(c.NodeInstanceTypes) == 0 {
		r.fail("nodeInstanceTypes", "is empty; list at least one instance type like m7i.2xlarge")
	}
	if len(c.PublicAccessCIDRs) == 0 {
		r.fail("clusterPublicAccessCidrs", "is empty; list the CIDRs (CI runners, office VPN) allowed to reach the EKS API")
	}
	for _, block := range c.PublicAccessCIDRs {
		if WideCIDR(block) {
			r.fail("clusterPublicAccessCidrs", "contains %s, which opens the EKS API to a large part of the internet; list your CI and VPN CIDRs (IPv4 /%d or longer, IPv6 /%d or longer)", block, minIPv4Prefix, minIPv6Prefix)
		}
	}

	if s.Addons.Karpenter {
		checkNodePoolCapacity(s, r)
	}
	if s.Addons.ExternalDNS {
		if s.Addons.Route53ZoneID == "" {
			r.fail("route53ZoneId", "is empty while stackauth:addonExternalDns is true; set the id of the hosted zone holding %s (aws route53 list-hosted-zones-by-name --dns-name %s), or turn external-dns off", s.Domain, s.Domain)
		}
		// external-dns may write names under the domain only (its filter and its IAM policy say so).
		for key, host := range map[string]string{"apiHost": s.APIHost, "dashboardHost": s.DashboardHost} {
			if host != s.Domain && !strings.HasSuffix(host, "."+s.Domain) {
				r.fail(key, "%q is outside stackauth:domain %s, where external-dns writes records; use a host under the domain, or turn external-dns off and manage its record yourself", host, s.Domain)
			}
		}
	}

	if gib, known := CacheNodeMemoryGiB[s.Cache.NodeType]; known && gib < guideCacheGiB {
		r.fail("cacheNodeType", "%s has %.2f GiB, below the guide's 3 GB for Redis; use cache.t4g.medium or larger", s.Cache.NodeType, gib)
	}

	if s.Production {
		if !s.Network.NatGatewayPerAZ {
			r.fail("natGatewayPerAz", "is false for a production stack; one NAT per AZ keeps egress up when an AZ fails")
		}
		if !s.Database.MultiAZ {
			r.fail("dbMultiAz", "is false for a production stack; set it to true")
		}
		if !s.Database.DeletionProtection {
			r.fail("dbDeletionProtection", "is false for a production stack; set it to true")
		}
		if s.Database.BackupRetentionDays < 7 {
			r.fail("dbBackupRetentionDays", "%d is below 7 days for a production stack; allowed: 7..35", s.Database.BackupRetentionDays)
		}
		if s.App.MinReplicas < 2 {
			r.fail("apiMinReplicas", "%d leaves a production API behind a single pod; run at least 2", s.App.MinReplicas)
		}
		if s.Cache.ReplicasPerShard < 1 {
			r.fail("cacheReplicasPerShard", "is 0 for a production stack; automatic failover needs at least 1 replica")
		}
	}
}

// The shortest prefixes an admin allow-list may hold: a /8 is already 16 million addresses, and splitting the
// internet into halves (0.0.0.0/1 + 128.0.0.0/1) must not pass for a list.
const (
	minIPv4Prefix = 8
	minIPv6Prefix = 32
)

// WideCIDR reports whether block is broader than an admin allow-list should be.
func WideCIDR(block string) bool {
	ip, n, err := net.ParseCIDR(block)
	if err != nil {
		return false
	}
	ones, _ := n.Mask.Size()
	if ip.To4() != nil {
		return ones < minIPv4Prefix
	}
	return ones < minIPv6Prefix
}

func envWord(s *Stack) string {
	if s.Production {
		return "production"
	}
	return "non-production"
}

func checkResources(r *reader, reqKey, req, limKey, lim string) {
	q, err1 := resource.ParseQuantity(req)
	l, err2 := resource.ParseQuantity(lim)
	if err1 != nil || err2 != nil {
		return // the field check has said so already
	}
	if q.Cmp(l) > 0 {
		r.fail(reqKey, "%s is above stackauth:%s %s; a request cannot exceed its limit", req, limKey, lim)
	}
}

// checkNodePoolCapacity refuses NodePool limits that cannot hold every API and gateway pod at its HPA maximum
// plus the platform share: Karpenter stops adding nodes at the limits, and the pods beyond them stay Pending
// exactly when the load is highest. The managed node group is not counted; it is the floor, not the reserve.
func checkNodePoolCapacity(s *Stack, r *reader) {
	type share struct {
		replicas    int
		replicasKey string
		request     string
		requestKey  string
	}
	check := func(limitKey, limit string, shares []share, platformKey, platform string, format func(resource.Quantity) string) {
		lim, err := resource.ParseQuantity(limit)
		if err != nil {
			return // the field check has said so already
		}
		total, err := resource.ParseQuantity(platform)
		if err != nil {
			return
		}
		terms := make([]string, 0, len(shares)+1)
		for _, sh := range shares {
			q, err := resource.ParseQuantity(sh.request)
			if err != nil {
				return
			}
			total.Add(*resource.NewMilliQuantity(q.MilliValue()*int64(sh.replicas), q.Format))
			terms = append(terms, fmt.Sprintf("stackauth:%s %d x stackauth:%s %s", sh.replicasKey, sh.replicas, sh.requestKey, sh.request))
		}
		terms = append(terms, fmt.Sprintf("stackauth:%s %s", platformKey, platform))
		if lim.Cmp(total) < 0 {
			r.fail(limitKey, "%s cannot hold the HPA maxima: %s = %s; raise stackauth:%s to at least %s, or lower the replicas or requests",
				limit, strings.Join(terms, " + "), format(total), limitKey, format(total))
		}
	}
	check("karpenterCpuLimit", s.NodePool.CPULimit, []share{
		{s.App.MaxReplicas, "apiMaxReplicas", s.App.CPURequest, "apiCpuRequest"},
		{s.Gateway.MaxReplicas, "gatewayMaxReplicas", s.Gateway.CPURequest, "gatewayCpuRequest"},
	}, "karpenterPlatformCpu", s.NodePool.PlatformCPU, formatCPU)
	check("karpenterMemoryLimit", s.NodePool.MemoryLimit, []share{
		{s.App.MaxReplicas, "apiMaxReplicas", s.App.MemoryRequest, "apiMemoryRequest"},
		{s.Gateway.MaxReplicas, "gatewayMaxReplicas", s.Gateway.MemoryRequest, "gatewayMemoryRequest"},
	}, "karpenterPlatformMemory", s.NodePool.PlatformMemory, formatMemory)
}

// formatCPU writes cores as a config value would: 57, or 57500m when not whole.
func formatCPU(q resource.Quantity) string {
	m := q.MilliValue()
	if m%1000 != 0 {
		return fmt.Sprintf("%dm", m)
	}
	return fmt.Sprint(m / 1000)
}

// formatMemory writes bytes in Gi, rounded up so the suggested limit is never short.
func formatMemory(q resource.Quantity) string {
	const gi = 1 << 30
	return fmt.Sprintf("%dGi", (q.Value()+gi-1)/gi)
}
