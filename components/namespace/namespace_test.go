package namespace

import (
	"strings"
	"testing"
)

func TestPodSecurityLabels(t *testing.T) {
	labels := PodSecurityLabels(Baseline, Restricted)
	for k, want := range map[string]string{
		"pod-security.kubernetes.io/enforce": Baseline,
		"pod-security.kubernetes.io/audit":   Restricted,
		"pod-security.kubernetes.io/warn":    Restricted,
	} {
		if labels[k] != want {
			t.Errorf("%s = %q, want %q", k, labels[k], want)
		}
	}
	if a := (Args{Name: "stack-auth-prod"}).withDefaults(); a.Enforce != Restricted || a.Warn != Restricted {
		t.Errorf("defaults %+v, want restricted everywhere", a)
	}
}

func TestArgsErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		args Args
		want string
	}{
		{Args{Name: "Stack_Auth"}, "args.Name"},
		{Args{Name: "app", Enforce: "privileged"}, "args.Enforce"},
		{Args{Name: "app", Warn: Baseline}, "args.Warn is baseline below an enforced restricted"},
		{Args{Name: "app", Labels: map[string]string{"pod-security.kubernetes.io/enforce": "privileged"}}, "args.Labels"},
	} {
		if err := tc.args.withDefaults().validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want an error naming %s", tc.args, err, tc.want)
		}
	}
}
