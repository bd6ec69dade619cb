package config

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/resource"
)

// The memory model of a Stack Auth pod. The image's entrypoint starts two Node processes, the API
// (apps/backend/server.js) and the dashboard (apps/dashboard/server.js), and both inherit NODE_OPTIONS, so each may
// grow its old space to --max-old-space-size. Their two heaps must fit in a share of the container limit that
// leaves the rest for what V8 keeps outside the old space (young generation, code, buffers) and the Prisma engine.
const (
	NodeProcessesPerPod = 2
	HeapShareOfLimitPct = 75
	bytesPerMiB         = 1 << 20
)

// MaxNodeHeapMB is the largest --max-old-space-size a memory limit (a Kubernetes quantity) allows.
func MaxNodeHeapMB(memoryLimit string) (int, error) {
	q, err := resource.ParseQuantity(memoryLimit)
	if err != nil {
		return 0, err
	}
	return int(q.Value() / bytesPerMiB * HeapShareOfLimitPct / 100 / NodeProcessesPerPod), nil
}

func checkNodeHeap(s *Stack, r *reader) {
	most, err := MaxNodeHeapMB(s.App.MemoryLimit)
	if err != nil || s.App.NodeHeapMB <= most {
		return // a bad quantity is reported by its field check
	}
	// The smallest limit, in MiB, whose share holds both heaps (rounded up).
	neededMiB := (s.App.NodeHeapMB*NodeProcessesPerPod*100 + HeapShareOfLimitPct - 1) / HeapShareOfLimitPct
	r.fail("apiNodeHeapMb", "%d MB per Node process does not fit stackauth:apiMemoryLimit %s: the API and the "+
		"dashboard both read NODE_OPTIONS, and %d x %d MB must stay within %d%% of the limit (%d MB); lower it to at "+
		"most %d or raise stackauth:apiMemoryLimit to at least %dMi",
		s.App.NodeHeapMB, s.App.MemoryLimit, NodeProcessesPerPod, s.App.NodeHeapMB, HeapShareOfLimitPct,
		most*NodeProcessesPerPod, most, neededMiB)
}

// NodeOptions is the NODE_OPTIONS value of the Stack Auth pods and the migration Job.
func (a App) NodeOptions() string { return fmt.Sprintf("--max-old-space-size=%d", a.NodeHeapMB) }

// The connection model. Every Stack Auth pod opens at most PoolSize connections (Prisma's connection_limit; the
// dashboard process has no database client). A rollout runs up to RolloutSurgePercent more pods than the HPA
// maximum (the chart's rollingUpdate.maxSurge, rounded up as Kubernetes does). The migration Job is one more client
// with the same pool. Exporters and the superuser reserves come on top.
const (
	RolloutSurgePercent = 25
	// ExporterConnections covers postgres_exporter (one connection) and a second one during its own rollout,
	// plus one for an operator's psql session.
	ExporterConnections = 3
	// ReservedConnections are the slots PostgreSQL keeps for superusers (superuser_reserved_connections, 3) and
	// RDS for rds_superuser members (rds.rds_superuser_reserved_connections, 3): ordinary clients never get them.
	ReservedConnections = 3 + 3
)

// Budget is a stack's database connections at the HPA bounds, with every pool full.
type Budget struct {
	// PeakPods is the HPA maximum plus the rollout surge; FloorPods the same at the HPA minimum.
	PeakPods, FloorPods int
	// AppAtPeak and AppAtFloor are the pods' pools together.
	AppAtPeak, AppAtFloor int
	// Migrations is the migration Job's pool.
	Migrations int
	// Beside are the connections that never pass through the proxy: migrations, exporters, reserves. The
	// migration Job is counted here even though it reads the same connection string as the pods, so the budget
	// holds when the Job is pointed straight at the instance.
	Beside int
	// DirectNeed is everything at the peak without a proxy; it must not exceed MaxConnections.
	DirectNeed int
	// ProxyCeiling is how many connections RDS Proxy may open to the instance (MaxConnectionsPercent).
	ProxyCeiling int
	// ProxyClients is how many client connections reach the proxy at the peak (pods and the Job).
	ProxyClients int
}

func surge(pods int) int { return pods + (pods*RolloutSurgePercent+99)/100 }

// ConnectionBudget computes the budget of a stack's settings.
func (s *Stack) ConnectionBudget() Budget {
	d := s.Database
	b := Budget{
		PeakPods:   surge(s.App.MaxReplicas),
		FloorPods:  surge(s.App.MinReplicas),
		Migrations: d.PoolSize,
	}
	b.AppAtPeak = b.PeakPods * d.PoolSize
	b.AppAtFloor = b.FloorPods * d.PoolSize
	b.Beside = b.Migrations + ExporterConnections + ReservedConnections
	b.DirectNeed = b.AppAtPeak + b.Beside
	b.ProxyCeiling = d.MaxConnections * d.ProxyMaxConnectionsPercent / 100
	b.ProxyClients = b.AppAtPeak + b.Migrations
	return b
}

// checkConnectionBudget stops a stack whose pods could ask PostgreSQL for more connections than max_connections.
//
// Without the proxy every pool is a set of server connections, so the peak must fit max_connections.
//
// With RDS Proxy the pods' connections end at the proxy, which opens at most MaxConnectionsPercent of
// max_connections to the instance and queues the rest for up to the borrow timeout; so the instance is never
// oversubscribed, provided the proxy's ceiling leaves room for what bypasses it. Prisma's prepared statements pin
// each client session to one server connection (Prisma documents that RDS Proxy gives it no multiplexing), so the
// proxy caps and queues rather than multiplies: its ceiling must at least hold the pods at the HPA floor, so that
// the steady state never waits at the proxy.
func checkConnectionBudget(s *Stack, r *reader) {
	d := s.Database
	if s.Cloud != "aws" {
		if d.Proxy {
			r.fail("dbProxy", "is true on cloud %q; RDS Proxy exists only on aws, set it to false", s.Cloud)
		}
		return
	}
	b := s.ConnectionBudget()
	parts := fmt.Sprintf("%d for the migration Job + %d for exporters + %d reserved for superusers",
		b.Migrations, ExporterConnections, ReservedConnections)
	if !d.Proxy {
		if b.DirectNeed > d.MaxConnections {
			r.fail("dbMaxConnections", "%d cannot hold the pods' pools: stackauth:apiMaxReplicas %d plus the %d%% "+
				"rollout surge = %d pods, x stackauth:dbPoolSize %d = %d, + %s = %d; lower "+
				"stackauth:apiMaxReplicas or stackauth:dbPoolSize, raise stackauth:dbMaxConnections to at least %d, or "+
				"set stackauth:dbProxy to true to put RDS Proxy in front of the instance",
				d.MaxConnections, s.App.MaxReplicas, RolloutSurgePercent, b.PeakPods, d.PoolSize, b.AppAtPeak, parts,
				b.DirectNeed, b.DirectNeed)
		}
		return
	}
	if b.ProxyCeiling+b.Beside > d.MaxConnections {
		most := (d.MaxConnections - b.Beside) * 100 / d.MaxConnections
		r.fail("dbProxyMaxConnectionsPercent", "%d%% of stackauth:dbMaxConnections %d lets RDS Proxy open %d "+
			"connections, leaving no room for %s (%d); lower it to at most %d or raise stackauth:dbMaxConnections",
			d.ProxyMaxConnectionsPercent, d.MaxConnections, b.ProxyCeiling, parts, b.Beside, max(most, 0))
	}
	if b.AppAtFloor > b.ProxyCeiling {
		r.fail("dbProxyMaxConnectionsPercent", "RDS Proxy may open %d connections (%d%% of stackauth:dbMaxConnections "+
			"%d), fewer than the pods at the HPA floor hold: stackauth:apiMinReplicas %d (%d pods in a rollout) x "+
			"stackauth:dbPoolSize %d = %d, and Prisma sessions pin one connection each; raise it or "+
			"stackauth:dbMaxConnections, or lower stackauth:apiMinReplicas or stackauth:dbPoolSize",
			b.ProxyCeiling, d.ProxyMaxConnectionsPercent, d.MaxConnections, s.App.MinReplicas, b.FloorPods,
			d.PoolSize, b.AppAtFloor)
	}
}
