package config

import (
	"fmt"
	"net/url"
	"regexp"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Monitoring is the stack's observability (components/monitoring).
type Monitoring struct {
	// Enabled installs the monitoring stack; local stacks leave it off by default.
	Enabled bool
	// Retention is how long Prometheus keeps samples (a Prometheus duration such as 15d).
	Retention string
	// StorageSize is Prometheus' gp3 volume; the TSDB is capped at 85% of it.
	StorageSize string
	// Telemetry deploys the OpenTelemetry Collector and Jaeger and points OTEL_EXPORTER_OTLP_ENDPOINT of Stack Auth
	// and the gateway at the collector (the guide's ENABLE_TELEMETRY).
	Telemetry bool
	// RunbookURL is the README the alerts' runbook_url links to, one section per alert.
	RunbookURL string
}

var prometheusDuration = regexp.MustCompile(`^[1-9][0-9]*(h|d|w|y)$`)

func retention(v string) error {
	if !prometheusDuration.MatchString(v) {
		return fmt.Errorf("is not a Prometheus retention; write it like 15d, 12w or 1y")
	}
	return nil
}

func volumeSize(v string) error {
	q, err := resource.ParseQuantity(v)
	if err != nil || q.Cmp(resource.MustParse("10Gi")) < 0 {
		return fmt.Errorf("is not a volume size of at least 10Gi; write it like 100Gi")
	}
	return nil
}

func runbookURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Fragment != "" {
		return fmt.Errorf("is not an https:// URL without a #fragment; give the README that holds the Alerts section")
	}
	return nil
}
