package config

import (
	"strings"
	"testing"
)

// unset in a change removes the key, as `pulumi config rm` would.
const unset = "\x00unset"

// parseWith parses a real stack file with some keys changed.
func parseWith(t *testing.T, stack string, change map[string]string) (*Stack, error) {
	t.Helper()
	values := stackValues(t, stack)
	for k, v := range change {
		if v == unset {
			delete(values, FullKey(k))
			continue
		}
		values[FullKey(k)] = v
	}
	return Parse(stack, mapSource{values: values})
}

func TestRealStacksFitTheHPAMaximaOnTheNodePool(t *testing.T) {
	for _, stack := range []string{"prod", "staging"} {
		s, err := parseWith(t, stack, nil)
		if err != nil {
			t.Fatalf("%s: %v", stack, err)
		}
		if !s.Addons.Karpenter || !s.Addons.MetricsServer || !s.Addons.LoadBalancerController || !s.Addons.ExternalDNS {
			t.Errorf("%s: add-ons %+v, want all on", stack, s.Addons)
		}
	}
}

// The prod stack file: 50 API pods x 1 CPU / 2Gi, 12 gateway pods x 250m / 256Mi, platform 8 CPU / 16Gi, so it
// needs 61 CPU and 119Gi.
func TestNodePoolCapacityCheck(t *testing.T) {
	for _, c := range []struct {
		name   string
		change map[string]string
		want   []string // empty: accepted
	}{
		{"exactly enough", map[string]string{"karpenterCpuLimit": "61", "karpenterMemoryLimit": "119Gi"}, nil},
		{"one core short", map[string]string{"karpenterCpuLimit": "60"}, []string{
			"stackauth:karpenterCpuLimit: 60 cannot hold the HPA maxima",
			"stackauth:apiMaxReplicas 50 x stackauth:apiCpuRequest 1",
			"stackauth:gatewayMaxReplicas 12 x stackauth:gatewayCpuRequest 250m",
			"stackauth:karpenterPlatformCpu 8 = 61",
			"raise stackauth:karpenterCpuLimit to at least 61",
		}},
		{"memory short", map[string]string{"karpenterMemoryLimit": "118Gi"}, []string{
			"stackauth:karpenterMemoryLimit: 118Gi cannot hold the HPA maxima",
			"stackauth:apiMaxReplicas 50 x stackauth:apiMemoryRequest 2Gi",
			"stackauth:gatewayMaxReplicas 12 x stackauth:gatewayMemoryRequest 256Mi",
			"= 119Gi",
		}},
		{"more API pods", map[string]string{"apiMaxReplicas": "80"}, []string{"stackauth:karpenterCpuLimit", "stackauth:apiMaxReplicas 80", "= 91"}},
		{"bigger gateway pods", map[string]string{"gatewayCpuRequest": "2"}, []string{"stackauth:gatewayCpuRequest 2", "= 82"}},
		{"fractional total", map[string]string{"karpenterCpuLimit": "61", "gatewayCpuRequest": "300m"}, []string{"at least 61600m"}},
		{"platform share counts", map[string]string{"karpenterPlatformCpu": "30"}, []string{"stackauth:karpenterPlatformCpu 30 = 83"}},
		{"not checked without Karpenter", map[string]string{"addonKarpenter": "false", "karpenterCpuLimit": "1"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseWith(t, "prod", c.change)
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestRoute53ZoneID(t *testing.T) {
	if _, err := parseWith(t, "prod", map[string]string{"route53ZoneId": unset}); err == nil ||
		!strings.Contains(err.Error(), "stackauth:route53ZoneId: is empty while stackauth:addonExternalDns is true") {
		t.Errorf("missing zone: got %v", err)
	}
	if _, err := parseWith(t, "prod", map[string]string{"route53ZoneId": unset, "addonExternalDns": "false"}); err != nil {
		t.Errorf("zone required with external-dns off: %v", err)
	}
	for _, bad := range []string{"/hostedzone/Z0EXAMPLE", "z0example", "Z0-EXAMPLE", "Z" + strings.Repeat("A", 32)} {
		if _, err := parseWith(t, "prod", map[string]string{"route53ZoneId": bad}); err == nil ||
			!strings.Contains(err.Error(), "stackauth:route53ZoneId") || !strings.Contains(err.Error(), "hosted zone id") {
			t.Errorf("zone %q: got %v", bad, err)
		}
	}
}

func TestHostsOutsideTheDomainAreRefusedWithExternalDNS(t *testing.T) {
	_, err := parseWith(t, "prod", map[string]string{"apiHost": "api.example.org"})
	if err == nil || !strings.Contains(err.Error(), `stackauth:apiHost: "api.example.org" is outside stackauth:domain auth.example.com`) {
		t.Errorf("got %v", err)
	}
	if _, err := parseWith(t, "prod", map[string]string{"apiHost": "api.example.org", "addonExternalDns": "false"}); err != nil {
		t.Errorf("with external-dns off: %v", err)
	}
	if _, err := parseWith(t, "prod", map[string]string{"dashboardHost": "admin.auth.example.com"}); err != nil {
		t.Errorf("host under the domain: %v", err)
	}
}

func TestNodePoolSettingsAreChecked(t *testing.T) {
	for key, bad := range map[string]string{
		"karpenterCapacityTypes": `["reserved"]`,
		"karpenterAmiAlias":      "al2023",
		"karpenterCpuLimit":      "lots",
		"gatewayMemoryRequest":   "1GB",
	} {
		if _, err := parseWith(t, "staging", map[string]string{key: bad}); err == nil || !strings.Contains(err.Error(), "stackauth:"+key) {
			t.Errorf("%s=%s: got %v", key, bad, err)
		}
	}
}
