package config

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// guide holds the deployment guide's literal numbers: an HPA up to 50 pods, POOL_SIZE 20, max_connections 500.
var guide = map[string]string{"apiMaxReplicas": "50", "dbPoolSize": "20", "dbMaxConnections": "500"}

func with(base map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// number extracts the first integer after a phrase of an error message.
func number(t *testing.T, err error, after string) string {
	t.Helper()
	m := regexp.MustCompile(regexp.QuoteMeta(after) + ` ([0-9]+)`).FindStringSubmatch(err.Error())
	if m == nil {
		t.Fatalf("error %q has no number after %q", err, after)
	}
	return m[1]
}

func TestGuideNumbersWithoutProxyAreRefusedNamingTheThreeSettings(t *testing.T) {
	_, err := parseWith(t, "prod", with(guide, "dbProxy", "false"))
	if err == nil {
		t.Fatal("50 replicas x 20 connections against max_connections 500 without RDS Proxy was accepted")
	}
	for _, want := range []string{"stackauth:apiMaxReplicas", "stackauth:dbPoolSize", "stackauth:dbMaxConnections",
		"stackauth:dbProxy", "= 63 pods", "= 1260", "= 1289"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	// The fix the message offers is enough, and no more than enough.
	least := number(t, err, "raise stackauth:dbMaxConnections to at least")
	if _, err := parseWith(t, "prod", with(guide, "dbProxy", "false", "dbMaxConnections", least)); err != nil {
		t.Errorf("dbMaxConnections %s, the offered fix, is still refused: %v", least, err)
	}
	n, _ := strconv.Atoi(least)
	if _, err := parseWith(t, "prod", with(guide, "dbProxy", "false", "dbMaxConnections", fmt.Sprint(n-1))); err == nil {
		t.Errorf("dbMaxConnections %d, one below the offered fix, was accepted", n-1)
	}
}

func TestGuideNumbersPassWithProxy(t *testing.T) {
	s, err := parseWith(t, "prod", with(guide, "dbProxy", "true"))
	if err != nil {
		t.Fatalf("the guide's numbers behind RDS Proxy were refused: %v", err)
	}
	b := s.ConnectionBudget()
	if b.ProxyCeiling != 450 || b.ProxyClients != 63*20+20 || b.ProxyCeiling+b.Beside > 500 {
		t.Errorf("budget %+v: want a 450-connection ceiling, 1280 clients, and the ceiling plus %d beside within 500", b, b.Beside)
	}
}

func TestProxyCeilingMustLeaveRoomForWhatBypassesIt(t *testing.T) {
	_, err := parseWith(t, "prod", with(guide, "dbProxy", "true", "dbProxyMaxConnectionsPercent", "100"))
	if err == nil || !strings.Contains(err.Error(), "stackauth:dbProxyMaxConnectionsPercent: 100%") {
		t.Fatalf("a proxy allowed all of max_connections was accepted or not named: %v", err)
	}
	most := number(t, err, "lower it to at most")
	if _, err := parseWith(t, "prod", with(guide, "dbProxy", "true", "dbProxyMaxConnectionsPercent", most)); err != nil {
		t.Errorf("dbProxyMaxConnectionsPercent %s, the offered fix, is refused: %v", most, err)
	}
}

func TestProxyCeilingMustHoldTheHPAFloor(t *testing.T) {
	// 20 pods (25 in a rollout) x 20 connections = 500 pinned sessions, above the proxy's 450.
	_, err := parseWith(t, "prod", with(guide, "dbProxy", "true", "apiMinReplicas", "20"))
	if err == nil {
		t.Fatal("an HPA floor above the proxy's ceiling was accepted")
	}
	for _, want := range []string{"stackauth:dbProxyMaxConnectionsPercent", "stackauth:apiMinReplicas 20", "= 500", "450"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestProxyOnlyOnAWS(t *testing.T) {
	_, err := parseWith(t, "staging", map[string]string{"cloud": "local", "dbProxy": "true"})
	if err == nil || !strings.Contains(err.Error(), "stackauth:dbProxy: is true on cloud \"local\"") {
		t.Fatalf("dbProxy on a local stack: %v", err)
	}
}

func TestNodeHeapMustFitTheMemoryLimit(t *testing.T) {
	for _, c := range []struct{ heap, limit string }{
		{"5000", "4Gi"}, // a heap above the limit itself
		{"4096", "8Gi"}, // the guide's heap and its limit for memory trouble: two processes may take 8 GiB
		{"1537", "4Gi"}, // one above prod's largest heap
	} {
		_, err := parseWith(t, "prod", map[string]string{"apiNodeHeapMb": c.heap, "apiMemoryLimit": c.limit})
		if err == nil {
			t.Errorf("heap %s MB with limit %s was accepted", c.heap, c.limit)
			continue
		}
		for _, want := range []string{"stackauth:apiNodeHeapMb: " + c.heap, "stackauth:apiMemoryLimit " + c.limit} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error does not mention %q:\n%v", want, err)
			}
		}
		// Either fix the message offers works.
		most := number(t, err, "lower it to at most")
		if _, err := parseWith(t, "prod", map[string]string{"apiNodeHeapMb": most, "apiMemoryLimit": c.limit}); err != nil {
			t.Errorf("heap %s (offered) with limit %s is refused: %v", most, c.limit, err)
		}
		least := number(t, err, "raise stackauth:apiMemoryLimit to at least") + "Mi"
		if _, err := parseWith(t, "prod", map[string]string{"apiNodeHeapMb": c.heap, "apiMemoryLimit": least}); err != nil {
			t.Errorf("heap %s with limit %s (offered) is refused: %v", c.heap, least, err)
		}
	}
}

func TestRealStacksBudgets(t *testing.T) {
	prod, err := parseWith(t, "prod", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !prod.Database.Proxy || prod.ConnectionBudget().DirectNeed <= prod.Database.MaxConnections {
		t.Errorf("prod: proxy %v, direct need %d: prod runs the guide's 50 x 20 and needs the proxy",
			prod.Database.Proxy, prod.ConnectionBudget().DirectNeed)
	}
	if got := prod.App.NodeOptions(); got != "--max-old-space-size=1536" {
		t.Errorf("prod NODE_OPTIONS %q", got)
	}
	if prod.Gateway.MaxConcurrentRequests != 1000 {
		t.Errorf("prod gateway in-flight limit %d, want the guide's 1000", prod.Gateway.MaxConcurrentRequests)
	}
	staging, err := parseWith(t, "staging", nil)
	if err != nil {
		t.Fatal(err)
	}
	if staging.Database.Proxy || staging.ConnectionBudget().DirectNeed > staging.Database.MaxConnections {
		t.Errorf("staging: proxy %v, direct need %d of %d", staging.Database.Proxy,
			staging.ConnectionBudget().DirectNeed, staging.Database.MaxConnections)
	}
}

// The budget counts the chart's rollout surge; the two must not drift apart.
func TestRolloutSurgeIsTheChartsMaxSurge(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "charts", "stack-backend", "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values struct {
		RollingUpdate struct {
			MaxSurge string `json:"maxSurge"`
		} `json:"rollingUpdate"`
	}
	if err := yaml.Unmarshal(b, &values); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%d%%", RolloutSurgePercent); values.RollingUpdate.MaxSurge != want {
		t.Errorf("chart rollingUpdate.maxSurge %q, the connection budget assumes %s", values.RollingUpdate.MaxSurge, want)
	}
}

// The README's sizing table quotes the budget of the real stack files; it must follow them.
func TestReadmeSizingTableFollowsTheStackFiles(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		for _, stack := range []string{"prod", "staging"} {
			if strings.HasPrefix(line, "| "+stack+" | ") {
				rows[stack] = line
			}
		}
	}
	for _, stack := range []string{"prod", "staging"} {
		s, err := parseWith(t, stack, nil)
		if err != nil {
			t.Fatal(err)
		}
		bu, d := s.ConnectionBudget(), s.Database
		want := []string{
			fmt.Sprintf("| %d..%d |", s.App.MinReplicas, s.App.MaxReplicas),
			fmt.Sprintf("limit %s, heap %d MB", s.App.MemoryLimit, s.App.NodeHeapMB),
			fmt.Sprintf("%d..%d replicas x %d in flight", s.Gateway.MinReplicas, s.Gateway.MaxReplicas, s.Gateway.MaxConcurrentRequests),
		}
		if d.Proxy {
			want = append(want, fmt.Sprintf("%d to the proxy (%d in a rollout, with the Job); at most %d to the instance + %d beside = %d of %d; without the proxy it would need %d",
				s.App.MaxReplicas*d.PoolSize, bu.ProxyClients, bu.ProxyCeiling, bu.Beside, bu.ProxyCeiling+bu.Beside, d.MaxConnections, bu.DirectNeed))
		} else {
			want = append(want, fmt.Sprintf("%d (%d in a rollout) + %d = %d of %d, no proxy",
				s.App.MaxReplicas*d.PoolSize, bu.AppAtPeak, bu.Beside, bu.DirectNeed, d.MaxConnections))
		}
		for _, w := range want {
			if !strings.Contains(rows[stack], w) {
				t.Errorf("README sizing row of %s lacks %q:\n%s", stack, w, rows[stack])
			}
		}
	}
}
