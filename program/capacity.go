package program

import (
	"net/url"
	"strconv"

	"github.com/stackauth-platform/infra/components/database"
	"github.com/stackauth-platform/infra/config"
)

// databaseProxy is the stack's RDS Proxy, or nil when stackauth:dbProxy is off. A client waits at the proxy as
// long as it would wait for its own pool (stackauth:dbPoolTimeoutSeconds), so a saturated database fails a request
// in seconds instead of holding it for the proxy's default two minutes.
func databaseProxy(cfg *config.Stack) *database.ProxyArgs {
	if !cfg.Database.Proxy {
		return nil
	}
	return &database.ProxyArgs{
		Name:                  "stackauth-" + cfg.Name,
		Region:                cfg.Region,
		MaxConnectionsPercent: cfg.Database.ProxyMaxConnectionsPercent,
		BorrowTimeoutSeconds:  cfg.Database.PoolTimeoutSeconds,
	}
}

// databaseParams are the connection string parameters of the Stack Auth pods. The image's database client is Prisma,
// whose query engine reads its pool from the URL: connection_limit (pool size per process; only the API process of
// the pod connects) and pool_timeout (seconds a query waits for a free connection). Images built after Stack Auth's
// move to Prisma 7 talk to Postgres through a node-postgres Pool instead, which ignores both; see the README's
// Capacity and sizing section.
// The local stack's in-cluster PostgreSQL is reached pod to pod without TLS; RDS refuses anything but TLS.
func databaseParams(cfg *config.Stack) url.Values {
	sslmode := "require"
	if cfg.Cloud == "local" {
		sslmode = "disable"
	}
	return url.Values{
		"sslmode":          {sslmode},
		"connection_limit": {strconv.Itoa(cfg.Database.PoolSize)},
		"pool_timeout":     {strconv.Itoa(cfg.Database.PoolTimeoutSeconds)},
	}
}
