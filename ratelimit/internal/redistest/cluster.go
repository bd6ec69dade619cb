package redistest

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of masters without replicas.
type Cluster struct {
	Nodes []*Server
}

// StartCluster starts masters nodes, joins them with
// `redis-cli --cluster create` and waits until every node reports state ok.
func StartCluster(masters int) (*Cluster, error) {
	if _, err := exec.LookPath("redis-cli"); err != nil {
		return nil, errors.New(InstallHint)
	}
	c := &Cluster{}
	for i := 0; i < masters; i++ {
		s, err := Start(Options{clusterEnabled: true})
		if err != nil {
			c.Close()
			return nil, err
		}
		c.Nodes = append(c.Nodes, s)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis-cli --cluster create: %v: %s", err, out)
	}
	if err := c.waitOK(20 * time.Second); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// NewCluster starts a cluster for t and stops it when t ends.
func NewCluster(t testing.TB, masters int) *Cluster {
	t.Helper()
	c, err := StartCluster(masters)
	if err != nil {
		t.Fatalf("starting redis cluster: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// Addrs lists the nodes' addresses.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}
	return addrs
}

// Client returns a new cluster client seeded with every node.
func (c *Cluster) Client() *redis.ClusterClient {
	return redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
}

// Close stops every node.
func (c *Cluster) Close() {
	for _, n := range c.Nodes {
		n.Close()
	}
}

func (c *Cluster) waitOK(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for _, n := range c.Nodes {
		client := n.Client()
		for {
			info, err := client.ClusterInfo(context.Background()).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				client.Close()
				return fmt.Errorf("cluster node %s not ok after %s: %v %s", n.Addr, limit, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
		client.Close()
	}
	return nil
}
