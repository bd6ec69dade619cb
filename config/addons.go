package config

// Addons are the cluster add-ons an AWS stack installs beside the workloads. Each one can be turned off for a
// cluster that already runs its own copy (the README's "Cluster add-ons" says how).
type Addons struct {
	// Karpenter provisions nodes for pods the managed node group has no room for.
	Karpenter bool
	// MetricsServer serves the CPU and memory metrics the HPAs scale on.
	MetricsServer bool
	// LoadBalancerController gives the edge's LoadBalancer Service its network load balancer.
	LoadBalancerController bool
	// ExternalDNS writes the API and dashboard records into Route53.
	ExternalDNS bool
	// Route53ZoneID is the hosted zone holding the stack's domain; external-dns may change records there only.
	Route53ZoneID string
}

// NodePool is what Karpenter may provision. The limits cap the pool's total node capacity; the platform share is
// the part of it kept for pods other than the API and the gateway (DaemonSets on every node, the edge's proxies,
// monitoring, kubelet reservations), so the capacity check can tell whether the HPA maxima fit.
type NodePool struct {
	CPULimit       string
	MemoryLimit    string
	PlatformCPU    string
	PlatformMemory string
	// CapacityTypes are Karpenter's capacity types, on-demand and/or spot.
	CapacityTypes []string
	// AMIAlias picks the node image, al2023@latest or a pinned al2023@vYYYYMMDD.
	AMIAlias string
}
