package ratelimitgateway

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

type release struct{ pulumi.ResourceState }

func validArgs() Args {
	return Args{
		Namespace: "stack-auth-prod",
		Image:     pulumi.String("123456789012.dkr.ecr.us-east-1.amazonaws.com/r@sha256:" + strings.Repeat("a", 64)),
		Replicas:  ReplicaBounds{Min: 3, Max: 12},
		Resources: Resources{Requests: ResourceList{CPU: "250m", Memory: "256Mi"}, Limits: ResourceList{CPU: "1", Memory: "512Mi"}},
		Upstream: Upstream{
			URL:       pulumi.String("http://stack-backend.stack-auth-prod.svc:8102"),
			PodLabels: pulumi.StringMap{"app.kubernetes.io/component": pulumi.String("server")},
			Port:      pulumi.Int(8102),
		},
		PublicAPIURL:   "https://api.example.com",
		ProjectID:      "internal",
		TrustedProxies: []string{"10.20.64.0/18"},
		EdgeNamespace:  "envoy-gateway-system",
		RedisCIDRs:     []string{"10.20.64.0/18"},
		ServiceMonitor: &ServiceMonitor{Namespace: "monitoring", Labels: map[string]string{"release": "monitoring"}, Release: &release{}},
	}
}

// TestBadArgsNameTheField: each bad input is refused with the field it is in.
func TestBadArgsNameTheField(t *testing.T) {
	if err := validArgs().withDefaults().validate(); err != nil {
		t.Fatalf("valid args refused: %v", err)
	}
	cases := []struct {
		change func(*Args)
		want   string
	}{
		{func(a *Args) { a.Namespace = "Stack_Auth" }, "args.Namespace"},
		{func(a *Args) { a.EdgeNamespace = "" }, "args.EdgeNamespace"},
		{func(a *Args) { a.Image = nil }, "args.Image"},
		{func(a *Args) { a.Replicas = ReplicaBounds{Min: 4, Max: 2} }, "args.Replicas"},
		{func(a *Args) { a.Resources.Limits.Memory = "lots" }, "args.Resources.Limits.Memory"},
		{func(a *Args) { a.Resources.Requests.CPU = "2" }, "args.Resources.Requests.CPU 2 is above Limits.CPU"},
		{func(a *Args) { a.Upstream.Port = nil }, "args.Upstream"},
		{func(a *Args) { a.PublicAPIURL = "http://api.example.com" }, "args.PublicAPIURL"},
		{func(a *Args) { a.ProjectID = "a/b" }, "args.ProjectID"},
		{func(a *Args) { a.TrustedProxies = []string{"0.0.0.0/0"} }, "args.TrustedProxies"},
		{func(a *Args) { a.TrustedProxies = nil }, "args.TrustedProxies is empty"},
		{func(a *Args) { a.MaxConcurrentRequests = -1 }, "args.MaxConcurrentRequests"},
		{func(a *Args) { a.Rules = []byte("tiers: {}\n") }, "args.Rules: tiers"},
		{func(a *Args) { a.RedisCIDRs = []string{"10.0.0.0"} }, "args.RedisCIDRs"},
		{func(a *Args) { a.ServiceMonitor.Release = nil }, "args.ServiceMonitor needs Labels and Release"},
		{func(a *Args) { a.ServiceMonitor.Namespace = "" }, "args.ServiceMonitor.Namespace"},
		{func(a *Args) { a.ServiceMonitor.Labels = map[string]string{"bad key!": "x"} }, "args.ServiceMonitor.Labels key"},
	}
	for _, c := range cases {
		a := validArgs()
		c.change(&a)
		err := a.withDefaults().validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error containing %q, got %v", c.want, err)
		}
	}
	// Without monitoring there is no ServiceMonitor and no admin-port ingress to name.
	a := validArgs()
	a.ServiceMonitor = nil
	if err := a.withDefaults().validate(); err != nil {
		t.Errorf("no ServiceMonitor refused: %v", err)
	}
}

func TestMemoryLimitLeavesTenPercentHeadroom(t *testing.T) {
	if got := memoryLimitBytes("512Mi"); got != "483183819" {
		t.Errorf("GOMEMLIMIT for 512Mi = %s, want 483183819 (90%%)", got)
	}
}
