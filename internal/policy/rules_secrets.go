package policy

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/stackauth-platform/infra/internal/plan"
)

// Random type tokens.
const (
	randomPassword = "random:index/randomPassword:RandomPassword"
	randomBytes    = "random:index/randomBytes:RandomBytes"
)

// generators are the random resources whose results Pulumi keeps secret.
var generators = []string{randomPassword, randomBytes}

// weakRandoms are random resources whose results sit in state in clear.
var weakRandoms = []string{
	"random:index/randomString:RandomString", "random:index/randomId:RandomId",
	"random:index/randomUuid:RandomUuid", "random:index/randomPet:RandomPet", "random:index/randomInteger:RandomInteger",
}

// generatedInputs are credential inputs the platform mints itself.
var generatedInputs = []string{"password", "masterPassword", "authToken"}

// credentialInputs carry a credential wherever they appear, so they must be
// secrets: generated ones, documents holding them, kubeconfigs and keys.
var credentialInputs = []string{"password", "masterPassword", "authToken", "secretString", "secretBinary", "kubeconfig", "privateKey", "clientSecret"}

var secretRules = []Rule{
	{ID: "SEC-001", Description: "generated credentials (password, masterPassword, authToken) come from a RandomPassword or RandomBytes, never a literal or a RandomString", Check: credentialsGenerated},
	{ID: "SEC-002", Description: "credentials reach their consumers only as secrets (every input fed by a RandomPassword/RandomBytes, and every password/authToken/secretString/kubeconfig input, is [secret])", Check: credentialsStaySecret},
	{ID: "SEC-003", Description: "Helm values hold no secret: no secret value and no secret-looking key with a literal value", Check: helmValuesHoldNoSecrets},
	{ID: "SEC-004", Description: "stack outputs that look secret (kubeconfig, passwords, tokens) are secret", Check: outputsSecret},
	{ID: "SEC-005", Description: "no generated secret appears in clear anywhere in the plan (inputs or outputs)", Check: noGeneratedSecretInClear},
}

func credentialsGenerated(s *Stack) []Finding {
	var out []Finding
	for i := range s.Plan.Resources {
		r := &s.Plan.Resources[i]
		if !r.Custom {
			continue
		}
		for _, in := range generatedInputs {
			if v := r.Inputs[in]; v != nil && v != "" && len(s.From(r, in, generators...)) == 0 {
				out = append(out, at(r, "%s is not computed from a RandomPassword or RandomBytes, so it is a literal or typed-in value; generate it in components/credentials", in))
			}
		}
		for in := range r.Inputs {
			if !isCredentialInput(in) && !looksSecret(in) {
				continue
			}
			for _, weak := range s.From(r, in, weakRandoms...) {
				out = append(out, at(r, "%s comes from %s %s, whose result Pulumi stores in clear; use a RandomPassword", in, weak.Type, weak.Name))
			}
		}
	}
	return out
}

func isCredentialInput(name string) bool {
	for _, c := range credentialInputs {
		if name == c {
			return true
		}
	}
	return false
}

func credentialsStaySecret(s *Stack) []Finding {
	var out []Finding
	for i := range s.Plan.Resources {
		r := &s.Plan.Resources[i]
		if !r.Custom {
			continue
		}
		for _, in := range slices.Sorted(maps.Keys(r.Inputs)) {
			v := r.Inputs[in]
			if v == plan.Secret {
				continue
			}
			if gens := s.From(r, in, generators...); len(gens) > 0 {
				out = append(out, at(r, "%s is computed from %s %s but is not a secret, so it lands in state and previews in clear; wrap it in pulumi.ToSecret (or keep it out of this input)", in, gens[0].Type, gens[0].Name))
				continue
			}
			if isCredentialInput(in) && v != nil && v != "" {
				out = append(out, at(r, "%s is a credential but not a secret; pass it as a Pulumi secret (pulumi.ToSecret or secret config)", in))
			}
		}
		if r.Type == "kubernetes:core/v1:Secret" {
			for _, in := range []string{"data", "stringData"} {
				for _, k := range slices.Sorted(maps.Keys(asMap(r.Inputs[in]))) {
					if asMap(r.Inputs[in])[k] != plan.Secret {
						out = append(out, at(r, "%s.%s is not a secret; pass the Secret's values as Pulumi secrets (better: let External Secrets create it)", in, k))
					}
				}
			}
		}
	}
	return out
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// secretWord matches names of keys and outputs that would hold a credential.
var secretWord = regexp.MustCompile(`(?i)(password|passwd|secret|token|credential|private_?key|api_?key|access_?key|client_?key|dsn|connection_?string|kubeconfig)`)

// referenceWord matches names that point at a credential instead of holding
// it: a Secret's name or key, an ARN, a path, a switch.
var referenceWord = regexp.MustCompile(`(?i)(^existing|(name|names|ref|refs|arn|id|ids|url|uri|endpoint|path|file|files|dir|mount|namespace|selector|header|type|mode|policy|format|provider|issuer|audience|ttl|duration|interval|period|seconds|enabled|(password|user|username|token|cert|ca)key)$)`)

// looksSecret reports whether a key or output name looks like it holds a
// credential itself.
func looksSecret(name string) bool {
	return secretWord.MatchString(name) && !referenceWord.MatchString(name)
}

func helmValuesHoldNoSecrets(s *Stack) []Finding {
	var out []Finding
	for _, r := range s.Of(helmRelease, helmChart) {
		v := r.Inputs["values"]
		if isUnknown(v) {
			out = append(out, unknown(r, "values"))
			continue
		}
		walkValues(v, "values", func(path, key string, value any) {
			switch {
			case value == plan.Secret:
				out = append(out, at(r, "%s is a secret; Helm stores values in clear in the release Secret and Pulumi state, so deliver it through Secrets Manager and External Secrets, and reference the Secret by name", path))
			case looksSecret(key) && str(value) != "" && !isUnknown(value):
				out = append(out, at(r, "%s looks like a credential set to a literal value; keep it in Secrets Manager and point the chart at a Secret (existingSecret/secretName)", path))
			}
		})
	}
	return out
}

// walkValues calls fn for every scalar in v with its dotted path and the key
// it sits under.
func walkValues(v any, path string, fn func(path, key string, value any)) {
	key := path[strings.LastIndex(path, ".")+1:]
	switch x := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			walkValues(x[k], path+"."+k, fn)
		}
	case []any:
		for i, e := range x {
			walkValues(e, fmt.Sprintf("%s[%d]", path, i), func(p, _ string, value any) { fn(p, key, value) })
		}
	default:
		fn(path, key, v)
	}
}

func outputsSecret(s *Stack) []Finding {
	var out []Finding
	for _, k := range slices.Sorted(maps.Keys(s.Plan.Outputs)) {
		v := s.Plan.Outputs[k]
		if looksSecret(k) && v != plan.Secret && v != nil && v != "" {
			out = append(out, Finding{Resource: "stack output " + k, Message: "looks like a credential but is exported in clear; export it with pulumi.ToSecret"})
		}
	}
	return out
}

func noGeneratedSecretInClear(s *Stack) []Finding {
	var out []Finding
	for i := range s.Plan.Resources {
		r := &s.Plan.Resources[i]
		for _, in := range slices.Sorted(maps.Keys(r.Inputs)) {
			if containsString(r.Inputs[in], plan.SecretMarker) {
				out = append(out, at(r, "%s holds a generated secret in clear (its secret flag was lost on the way, e.g. by reading an output's value); keep it an Output and pass it as one", in))
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(s.Plan.Outputs)) {
		if containsString(s.Plan.Outputs[k], plan.SecretMarker) {
			out = append(out, Finding{Resource: "stack output " + k, Message: "holds a generated secret in clear; export it with pulumi.ToSecret, or not at all"})
		}
	}
	return out
}
