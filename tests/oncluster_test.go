package tests

// Stack Auth on the cluster: the app namespace, External Secrets, cert-manager, the Envoy Gateway edge and the
// stack-backend release, as the program registers them under the mock engine. Custom resources are checked against
// the CRDs of the exact upstream releases the program pins (fetched through the Go module proxy) and decoded strictly
// into the upstream Go types where those can be imported.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	controllerconfig "github.com/cert-manager/cert-manager/pkg/apis/config/controller/v1alpha1"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/stackauth-platform/infra/components/certmanager"
	"github.com/stackauth-platform/infra/components/edge"
	"github.com/stackauth-platform/infra/components/externalsecrets"
	"github.com/stackauth-platform/infra/components/k8sbase"
	"github.com/stackauth-platform/infra/components/stackauth"
	"github.com/stackauth-platform/infra/internal/k8svalidate"
	"github.com/stackauth-platform/infra/internal/plan"
)

const (
	releaseType   = "kubernetes:helm.sh/v3:Release"
	gatewayType   = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
	httpRouteType = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
	issuerType    = "kubernetes:cert-manager.io/v1:ClusterIssuer"
)

// upstream is an upstream project whose chart the program pins, and the Go module that ships its sources (chart
// values and CRD YAML) at the same version.
type upstream struct {
	chart  k8sbase.Chart
	module string
	// chartDir holds the chart's default values (values.yaml, or Envoy Gateway's values.tmpl.yaml) and, where the
	// chart has one, values.schema.json.
	chartDir string
	// crds maps API group and kind to the CRD file in the module.
	crds map[string]string
}

var upstreams = []upstream{
	{
		chart:    externalsecrets.Chart,
		module:   "github.com/external-secrets/external-secrets",
		chartDir: "deploy/charts/external-secrets",
		crds: map[string]string{
			"external-secrets.io/SecretStore":    "config/crds/bases/external-secrets.io_secretstores.yaml",
			"external-secrets.io/ExternalSecret": "config/crds/bases/external-secrets.io_externalsecrets.yaml",
		},
	},
	{
		chart:    certmanager.Chart,
		module:   "github.com/cert-manager/cert-manager",
		chartDir: "deploy/charts/cert-manager",
		crds:     map[string]string{"cert-manager.io/ClusterIssuer": "deploy/crds/cert-manager.io_clusterissuers.yaml"},
	},
	{
		chart:    edge.Chart,
		module:   "github.com/envoyproxy/gateway",
		chartDir: "charts/gateway-helm",
		crds: map[string]string{
			// The Gateway API CRDs the Envoy Gateway chart installs, not those of the gateway-api module.
			"gateway.networking.k8s.io/GatewayClass": "charts/gateway-helm/charts/crds/crds/gatewayapi-crds.yaml",
			"gateway.networking.k8s.io/Gateway":      "charts/gateway-helm/charts/crds/crds/gatewayapi-crds.yaml",
			"gateway.networking.k8s.io/HTTPRoute":    "charts/gateway-helm/charts/crds/crds/gatewayapi-crds.yaml",
			"gateway.envoyproxy.io/EnvoyProxy":       "charts/gateway-helm/charts/crds/crds/generated/gateway.envoyproxy.io_envoyproxies.yaml",
		},
	},
}

// moduleVersion is the module tag of a chart version: the three projects tag their Go modules as vX.Y.Z and publish
// the chart of the same release as X.Y.Z or vX.Y.Z.
func (u upstream) moduleVersion() string { return "v" + strings.TrimPrefix(u.chart.Version, "v") }

func (u upstream) file(t *testing.T, path string) string {
	t.Helper()
	f, err := k8svalidate.ModuleFile(u.module, u.moduleVersion(), path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// groupKind is "group/Kind" of a kubernetes:<group>/<version>:<Kind> type token.
func groupKind(typ string) (group, kind string, ok bool) {
	rest, found := strings.CutPrefix(typ, "kubernetes:")
	if !found {
		return "", "", false
	}
	gv, kind, found := strings.Cut(rest, ":")
	if !found {
		return "", "", false
	}
	group, _, _ = strings.Cut(gv, "/")
	return group, kind, true
}

// isCustomResource tells custom resources from built-in kinds and Pulumi's own (helm.sh, yaml).
func isCustomResource(typ string) bool {
	group, _, ok := groupKind(typ)
	if !ok || !strings.Contains(group, ".") || group == "helm.sh" {
		return false
	}
	return !strings.HasSuffix(group, ".k8s.io") || group == "gateway.networking.k8s.io"
}

func releaseOfChart(t *testing.T, p *plan.Plan, chart string) plan.Resource {
	t.Helper()
	var found []plan.Resource
	for _, r := range p.ByType(releaseType) {
		if in(r, "chart") == chart {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: %d releases of chart %s, want 1", p.Stack, len(found), chart)
	}
	return found[0]
}

func byObjectName(t *testing.T, p *plan.Plan, typ, name string) plan.Resource {
	t.Helper()
	for _, r := range p.ByType(typ) {
		if in(r, "metadata.name") == name {
			return r
		}
	}
	t.Fatalf("%s: no %s with metadata.name %s", p.Stack, typ, name)
	return plan.Resource{}
}

func TestOnClusterPlanHasReleasesIssuersSecretsAndEdge(t *testing.T) {
	for _, stack := range stacks {
		t.Run(stack, func(t *testing.T) {
			p := preview(t, stack)
			for _, u := range upstreams {
				r := releaseOfChart(t, p, u.chart.Name)
				expect(t, r, "version", u.chart.Version)
				expect(t, r, "repositoryOpts.repo", map[bool]any{true: u.chart.Repo, false: nil}[u.chart.Repo != ""])
				expect(t, r, "atomic", true)
				if in(r, "skipCrds") == true {
					t.Errorf("release %s skips CRDs; it must install them", r.Name)
				}
			}
			expect(t, releaseOfChart(t, p, externalsecrets.Chart.Name), "values.installCRDs", true)
			expect(t, releaseOfChart(t, p, certmanager.Chart.Name), "values.crds.enabled", true)
			expect(t, releaseOfChart(t, p, certmanager.Chart.Name), "values.config.gatewayAPI.enabled", true)
			expect(t, releaseOfChart(t, p, edge.Chart.Name), "values.crds.enabled", true)
			app := releaseOfChart(t, p, stackauth.DefaultChartDir)
			expect(t, app, "namespace", "stack-auth-"+stack)

			// Found by name: other concerns add ExternalSecrets, routes and stores of their own.
			byObjectName(t, p, issuerType, certmanager.LetsEncryptProd)
			byObjectName(t, p, issuerType, certmanager.LetsEncryptStaging)
			byObjectName(t, p, "kubernetes:external-secrets.io/v1:SecretStore", "aws-secrets-manager")
			byObjectName(t, p, "kubernetes:gateway.networking.k8s.io/v1:GatewayClass", edge.DefaultClassName)
			byObjectName(t, p, "kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy", edge.DefaultClassName)
			gw := byObjectName(t, p, gatewayType, edge.DefaultGatewayName)
			for _, route := range []string{"api", "dashboard", edge.HTTPListener} {
				expect(t, byObjectName(t, p, httpRouteType, edge.RouteName(edge.DefaultGatewayName, route)), "metadata.namespace", in(gw, "metadata.namespace"))
			}
			es := byObjectName(t, p, "kubernetes:external-secrets.io/v1:ExternalSecret", stackauth.DefaultSecretName)
			expect(t, es, "metadata.namespace", "stack-auth-"+stack)
			expect(t, es, "spec.refreshInterval", "1h")
			expect(t, es, "spec.target.name", stackauth.DefaultSecretName)
			expect(t, es, "spec.target.creationPolicy", "Owner")
			keys := map[string]bool{}
			for _, d := range in(es, "spec.data").([]any) {
				keys[d.(map[string]any)["secretKey"].(string)] = true
			}
			for _, want := range []string{"STACK_DATABASE_CONNECTION_STRING", "STACK_SERVER_SECRET", "CRON_SECRET", "REDIS_URL"} {
				if !keys[want] {
					t.Errorf("ExternalSecret does not sync %s into the app's Secret", want)
				}
			}
			if keys["GRAFANA_ADMIN_PASSWORD"] {
				t.Errorf("the Grafana admin password reaches the app pods' env")
			}
		})
	}
}

func TestAppNamespaceEnforcesRestrictedPodSecurity(t *testing.T) {
	for _, stack := range stacks {
		p := preview(t, stack)
		ns := byObjectName(t, p, "kubernetes:core/v1:Namespace", "stack-auth-"+stack)
		for _, mode := range []string{"enforce", "audit", "warn"} {
			expect(t, ns, "metadata.labels.pod-security.kubernetes.io/"+mode, "restricted")
		}
		// Every workload of the stack goes in it.
		for _, r := range p.ByType(releaseType) {
			if in(r, "chart") == stackauth.DefaultChartDir {
				expect(t, r, "namespace", "stack-auth-"+stack)
			}
		}
	}
}

// crdCharts names, for each API group of a custom resource the program registers, the chart whose release
// installs its CRD. A new group needs an entry here, so the dependency is checked rather than assumed.
var crdCharts = map[string]string{
	"external-secrets.io":       externalsecrets.Chart.Name,
	"cert-manager.io":           certmanager.Chart.Name,
	"gateway.networking.k8s.io": edge.Chart.Name,
	"gateway.envoyproxy.io":     edge.Chart.Name,
}

func TestCustomResourcesDependOnTheReleaseThatInstallsTheirCRD(t *testing.T) {
	for _, stack := range stacks {
		p := preview(t, stack)
		checked := 0
		for _, r := range p.Resources {
			if !isCustomResource(r.Type) {
				continue
			}
			group, _, _ := groupKind(r.Type)
			chart, known := crdCharts[group]
			if !known {
				// Other concerns' kinds (monitoring, node autoscaling) check their own release; all must wait for one.
				if !dependsOnAnyRelease(p, r) {
					t.Errorf("%s: %s %s depends on no Helm release, so nothing installs its CRD first", stack, r.Type, r.Name)
				}
				continue
			}
			checked++
			if rel := releaseOfChart(t, p, chart); !dependsOn(r, rel.URN) {
				t.Errorf("%s: %s %s does not depend on the %s release that installs its CRD (depends on %v)", stack, r.Type, r.Name, chart, r.DependsOn)
			}
		}
		if checked < 10 {
			t.Errorf("%s: only %d custom resources of the on-cluster groups, want at least 10", stack, checked)
		}

		// Order between the releases and the objects they need.
		certManager := releaseOfChart(t, p, certmanager.Chart.Name)
		if !dependsOn(certManager, releaseOfChart(t, p, edge.Chart.Name).URN) {
			t.Errorf("%s: cert-manager does not wait for the Gateway API CRDs; it would not watch Gateways", stack)
		}
		app := releaseOfChart(t, p, stackauth.DefaultChartDir)
		es := byObjectName(t, p, "kubernetes:external-secrets.io/v1:ExternalSecret", stackauth.DefaultSecretName)
		if !dependsOn(app, es.URN) {
			t.Errorf("%s: the stack-backend release does not wait for the ExternalSecret that makes its Secret", stack)
		}
		gw := one(t, p, gatewayType)
		issuer := byObjectName(t, p, issuerType, in(gw, "metadata.annotations.cert-manager.io/cluster-issuer").(string))
		if !dependsOn(gw, issuer.URN) || !dependsOn(gw, one(t, p, "kubernetes:gateway.networking.k8s.io/v1:GatewayClass").URN) {
			t.Errorf("%s: the Gateway does not wait for its ClusterIssuer and GatewayClass (depends on %v)", stack, gw.DependsOn)
		}
	}
}

func dependsOnAnyRelease(p *plan.Plan, r plan.Resource) bool {
	for _, d := range r.DependsOn {
		if dep, ok := p.ByURN(d); ok && dep.Type == releaseType {
			return true
		}
	}
	return false
}

func TestCustomResourcesPassTheirUpstreamCRDAndGoTypes(t *testing.T) {
	files := map[string]string{}
	for _, u := range upstreams {
		for gk, path := range u.crds {
			files[gk] = u.file(t, path)
		}
	}
	for _, stack := range stacks {
		p := run(t, plan.Options{Stack: stack}) // without Preview: ARNs and names are known, as at deploy time
		validated := map[string]int{}
		for _, r := range p.Resources {
			group, kind, _ := groupKind(r.Type)
			crd, ok := files[group+"/"+kind]
			if !isCustomResource(r.Type) || !ok {
				continue
			}
			if err := k8svalidate.ValidateAgainstCRD(crd, r.Inputs); err != nil {
				t.Errorf("%s: %s %s: %v", stack, r.Type, r.Name, err)
			}
			if err := strictUpstreamType(kind, r.Inputs); err != nil {
				t.Errorf("%s: %s %s: %v", stack, r.Type, r.Name, err)
			}
			validated[group+"/"+kind]++
		}
		for gk := range files {
			if validated[gk] == 0 {
				t.Errorf("%s: no %s was validated; the program registers one", stack, gk)
			}
		}
	}
}

// strictUpstreamType decodes a custom resource into the upstream Go type, for the projects whose API packages build
// beside this module's dependencies (external-secrets' and Envoy Gateway's do not; their CRDs cover them).
func strictUpstreamType(kind string, obj map[string]any) error {
	var into any
	switch kind {
	case "ClusterIssuer":
		into = &certmanagerv1.ClusterIssuer{}
	case "Gateway":
		into = &gatewayv1.Gateway{}
	case "HTTPRoute":
		into = &gatewayv1.HTTPRoute{}
	case "GatewayClass":
		into = &gatewayv1.GatewayClass{}
	default:
		return nil
	}
	return k8svalidate.Strict(obj, into)
}

// secretLookingValue finds credentials written into a value: a URL with a password, a PEM block.
var secretLookingValue = regexp.MustCompile(`://[^/\s:@]*:[^/\s@]+@|-----BEGIN [A-Z ]*PRIVATE KEY-----`)

// referencesASecret allows keys that name a Secret rather than hold one.
func referencesASecret(key string) bool {
	k := strings.ToLower(key)
	return strings.HasSuffix(k, "secretname") || strings.HasSuffix(k, "secretref") || k == "existingsecret"
}

func TestNoHelmValuesHoldASecret(t *testing.T) {
	const marker = "SET-AS-SECRET-"
	for _, stack := range stacks {
		for _, preview := range []bool{true, false} {
			p := run(t, plan.Options{Stack: stack, Preview: preview, SetSecret: map[string]string{
				"stackauth:googleClientSecret": marker + "google",
				"stackauth:emailPassword":      marker + "smtp",
			}})
			releases := p.ByType(releaseType)
			if len(releases) < 4 {
				t.Fatalf("%s: %d Helm releases, want at least the four of the on-cluster platform", stack, len(releases))
			}
			for _, r := range releases {
				if r.Inputs["values"] == plan.Secret {
					t.Errorf("%s: release %s has secret values: a secret reached Helm (it would sit in the release in clear)", stack, r.Name)
				}
				walkKeysAndValues(in(r, "values"), "values", func(path, key string, value any) {
					// A secret-looking key may hold a reference (a map naming a Secret) or a switch, not a literal.
					s, literal := value.(string)
					if literal && s != "" && stackauth.LooksSecret(key) && !referencesASecret(key) {
						t.Errorf("%s: release %s: %s is a secret-looking key with a literal value; secrets go in Secrets Manager", stack, r.Name, path)
					}
					switch {
					case s == plan.Secret, strings.Contains(s, plan.SecretMarker), strings.Contains(s, marker):
						t.Errorf("%s: release %s: %s carries a secret (%q)", stack, r.Name, path, s)
					case secretLookingValue.MatchString(s):
						t.Errorf("%s: release %s: %s looks like a credential", stack, r.Name, path)
					}
				})
			}
		}
	}
}

// walkKeysAndValues calls fn for every map entry and array element of a rendered value, with its dotted path.
func walkKeysAndValues(v any, path string, fn func(path, key string, value any)) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			fn(path+"."+k, k, e)
			walkKeysAndValues(e, path+"."+k, fn)
		}
	case []any:
		for i, e := range x {
			fn(fmt.Sprintf("%s.%d", path, i), "", e)
			walkKeysAndValues(e, fmt.Sprintf("%s.%d", path, i), fn)
		}
	}
}

func TestExternalSecretsReaderReadsOnlyThisStacksSecret(t *testing.T) {
	regions := map[string]string{"prod": "us-east-1", "staging": "us-east-2"}
	arns := map[string]string{}
	for _, stack := range stacks {
		p := run(t, plan.Options{Stack: stack}) // without Preview, so the ARNs are known
		secretARN, _ := p.Outputs["secretArn"].(string)
		secret := named(t, p, "aws:secretsmanager/secret:Secret", "app-secrets")
		keyARN, _ := in(secret, "kmsKeyId").(string)
		if !strings.HasPrefix(secretARN, "arn:aws:secretsmanager:"+regions[stack]+":") || !strings.HasPrefix(keyARN, "arn:aws:kms:"+regions[stack]+":") {
			t.Fatalf("%s: secret ARN %q / key ARN %q are not this stack's region's", stack, secretARN, keyARN)
		}
		arns[stack] = secretARN

		policy := jsonInput(t, named(t, p, "aws:iam/rolePolicy:RolePolicy", "external-secrets-reader"), "policy")
		statements, _ := policy["Statement"].([]any)
		got := map[string][]any{}
		for _, s := range statements {
			st := s.(map[string]any)
			if st["Effect"] != "Allow" {
				t.Errorf("%s: statement %v is not an Allow", stack, st)
			}
			for _, a := range st["Action"].([]any) {
				got[a.(string)] = st["Resource"].([]any)
			}
			if fmt.Sprint(st["Action"]) == "[kms:Decrypt]" {
				expectJSON(t, stack, st["Condition"], map[string]any{"StringEquals": map[string]any{"kms:ViaService": "secretsmanager." + regions[stack] + ".amazonaws.com"}})
			}
		}
		expectJSON(t, stack, got, map[string][]any{
			"secretsmanager:GetSecretValue": {secretARN},
			"secretsmanager:DescribeSecret": {secretARN},
			"kms:Decrypt":                   {keyARN},
		})

		role := named(t, p, "aws:iam/role:Role", "external-secrets-reader")
		trust := jsonInput(t, role, "assumeRolePolicy")
		condition := trust["Statement"].([]any)[0].(map[string]any)["Condition"].(map[string]any)["StringEquals"].(map[string]any)
		subjects := 0
		for k, v := range condition {
			if strings.HasSuffix(k, ":sub") {
				subjects++
				if v != "system:serviceaccount:stack-auth-"+stack+":"+externalsecrets.DefaultReaderAccount {
					t.Errorf("%s: reader role trusts %v, want only the reader service account of the app namespace", stack, v)
				}
			}
		}
		if subjects != 1 {
			t.Errorf("%s: reader role trust has %d subject conditions, want 1", stack, subjects)
		}

		sa := named(t, p, "kubernetes:core/v1:ServiceAccount", "external-secrets-reader")
		expect(t, sa, "metadata.namespace", "stack-auth-"+stack)
		expect(t, sa, "metadata.annotations.eks.amazonaws.com/role-arn", "arn:aws:iam::123456789012:role/external-secrets-reader")
		store := byObjectName(t, p, "kubernetes:external-secrets.io/v1:SecretStore", "aws-secrets-manager")
		expect(t, store, "spec.provider.aws.service", "SecretsManager")
		expect(t, store, "spec.provider.aws.region", regions[stack])
		expect(t, store, "spec.provider.aws.auth.jwt.serviceAccountRef.name", externalsecrets.DefaultReaderAccount)
		es := byObjectName(t, p, "kubernetes:external-secrets.io/v1:ExternalSecret", stackauth.DefaultSecretName)
		expect(t, es, "spec.data.0.remoteRef.key", secretARN)
		expect(t, es, "spec.secretStoreRef.name", in(store, "metadata.name"))
	}
	if arns["prod"] == arns["staging"] {
		t.Errorf("prod and staging read the same secret %s", arns["prod"])
	}
}

func expectJSON(t *testing.T, stack string, got, want any) {
	t.Helper()
	g, _ := yaml.Marshal(got)
	w, _ := yaml.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("%s: got\n%s\nwant\n%s", stack, g, w)
	}
}

func TestCertificatesComeFromTheStacksIssuer(t *testing.T) {
	want := map[string]string{"prod": certmanager.LetsEncryptProd, "staging": certmanager.LetsEncryptStaging}
	servers := map[string]string{
		certmanager.LetsEncryptProd:    "https://acme-v02.api.letsencrypt.org/directory",
		certmanager.LetsEncryptStaging: "https://acme-staging-v02.api.letsencrypt.org/directory",
	}
	for _, stack := range stacks {
		p := preview(t, stack)
		gw := one(t, p, gatewayType)
		expect(t, gw, "metadata.annotations.cert-manager.io/cluster-issuer", want[stack])
		for name, server := range servers {
			issuer := byObjectName(t, p, issuerType, name)
			expect(t, issuer, "spec.acme.server", server)
			expect(t, issuer, "spec.acme.email", p.Config["stackauth:acmeEmail"])
			// The HTTP-01 solver attaches to the plain-HTTP listener of the stack's Gateway.
			ref := "spec.acme.solvers.0.http01.gatewayHTTPRoute.parentRefs.0."
			expect(t, issuer, ref+"name", in(gw, "metadata.name"))
			expect(t, issuer, ref+"namespace", in(gw, "metadata.namespace"))
			expect(t, issuer, ref+"sectionName", edge.HTTPListener)
		}
		listeners := map[string]map[string]any{}
		for _, l := range in(gw, "spec.listeners").([]any) {
			listeners[l.(map[string]any)["name"].(string)] = l.(map[string]any)
		}
		if l := listeners[edge.HTTPListener]; l == nil || l["protocol"] != "HTTP" || fmt.Sprint(l["port"]) != "80" {
			t.Errorf("%s: the Gateway has no HTTP listener on port 80 named %q for the ACME solver: %v", stack, edge.HTTPListener, l)
		}
	}
}

func TestEdgeRoutesAPIThroughTheRateLimiterAndTheDashboardStraight(t *testing.T) {
	for _, stack := range stacks {
		p := preview(t, stack)
		apiHost, dashboardHost := p.Config["stackauth:apiHost"], p.Config["stackauth:dashboardHost"]
		if apiHost == "" {
			apiHost = "api." + p.Config["stackauth:domain"]
			dashboardHost = "dashboard." + p.Config["stackauth:domain"]
		}
		gw := one(t, p, gatewayType)
		var https []string
		for _, l := range in(gw, "spec.listeners").([]any) {
			l := l.(map[string]any)
			if l["protocol"] != "HTTPS" {
				continue
			}
			https = append(https, fmt.Sprint(l["hostname"]))
			tls := l["tls"].(map[string]any)
			if tls["mode"] != "Terminate" || len(tls["certificateRefs"].([]any)) != 1 || fmt.Sprint(l["port"]) != "443" {
				t.Errorf("%s: listener %v does not terminate TLS on 443 with one certificate", stack, l["name"])
			}
		}
		sort.Strings(https)
		if fmt.Sprint(https) != fmt.Sprint([]string{apiHost, dashboardHost}) {
			t.Errorf("%s: HTTPS listeners for %v, want %s and %s", stack, https, apiHost, dashboardHost)
		}

		backends := map[string]string{}
		for _, route := range []string{"api", "dashboard", edge.HTTPListener} {
			r := byObjectName(t, p, httpRouteType, edge.RouteName(edge.DefaultGatewayName, route))
			expect(t, r, "spec.parentRefs.0.name", in(gw, "metadata.name"))
			expect(t, r, "metadata.namespace", in(gw, "metadata.namespace"))
			if in(r, "spec.parentRefs.0.sectionName") == edge.HTTPListener {
				expect(t, r, "spec.rules.0.filters.0.requestRedirect.scheme", "https")
				expect(t, r, "spec.rules.0.filters.0.requestRedirect.statusCode", 301)
				if in(r, "spec.rules.0.backendRefs") != nil {
					t.Errorf("%s: the HTTP listener's route sends traffic to a backend instead of redirecting", stack)
				}
				continue
			}
			for _, h := range in(r, "spec.hostnames").([]any) {
				backends[h.(string)] = fmt.Sprintf("%v:%v", in(r, "spec.rules.0.backendRefs.0.name"), in(r, "spec.rules.0.backendRefs.0.port"))
			}
		}
		if want := fmt.Sprintf("ratelimit-gateway:8080"); backends[apiHost] != want {
			t.Errorf("%s: API host goes to %q, want the rate-limit gateway %s", stack, backends[apiHost], want)
		}
		if want := fmt.Sprintf("%s:%d", stackauth.DefaultReleaseName, stackauth.DashboardPort); backends[dashboardHost] != want {
			t.Errorf("%s: dashboard host goes to %q, want %s", stack, backends[dashboardHost], want)
		}

		proxy := one(t, p, "kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy")
		class := one(t, p, "kubernetes:gateway.networking.k8s.io/v1:GatewayClass")
		expect(t, gw, "spec.gatewayClassName", in(class, "metadata.name"))
		expect(t, class, "spec.parametersRef.name", in(proxy, "metadata.name"))
		expect(t, class, "spec.parametersRef.namespace", in(proxy, "metadata.namespace"))
		service := "spec.provider.kubernetes.envoyService."
		expect(t, proxy, service+"type", "LoadBalancer")
		for k, v := range edge.AWSNetworkLoadBalancer().Annotations {
			expect(t, proxy, service+"annotations."+k, v)
		}
		expect(t, proxy, service+"annotations.service.beta.kubernetes.io/aws-load-balancer-scheme", "internet-facing")
		expect(t, proxy, service+"annotations.service.beta.kubernetes.io/aws-load-balancer-nlb-target-type", "ip")
		// The chart's NetworkPolicy admits the dashboard port from the namespace the proxies run in.
		expect(t, releaseOfChart(t, p, stackauth.DefaultChartDir), "values.networkPolicy.edge.namespace", in(proxy, "metadata.namespace"))
	}
}

// TestUpstreamReleaseValuesFitTheirCharts checks every value the program sets against the pinned chart, as
// `helm install` would and further: the values must pass the chart's values.schema.json where it has one, and a key
// must exist in the chart's defaults unless that schema refuses unknown keys itself (a misspelt key is otherwise
// silently ignored by Helm).
func TestUpstreamReleaseValuesFitTheirCharts(t *testing.T) {
	p := preview(t, "prod")
	for _, u := range upstreams {
		values, _ := in(releaseOfChart(t, p, u.chart.Name), "values").(map[string]any)
		dir := u.file(t, u.chartDir)
		defaults := readChartDefaults(t, dir)
		schema, err := os.ReadFile(filepath.Join(dir, "values.schema.json"))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		strictSchema := false
		if len(schema) > 0 {
			validate := func(v map[string]any) error {
				// The schema describes the merged values, as Helm validates them: defaults with ours on top.
				return util.ValidateAgainstSingleSchema(common.Values(util.MergeTables(copyValues(v), defaults)), schema)
			}
			if err := validate(values); err != nil {
				t.Errorf("%s: values fail the chart's values.schema.json: %v", u.chart.Name, err)
			}
			misspelt := copyValues(values)
			misspelt["replicaCnt"] = 2
			strictSchema = validate(misspelt) != nil
		}
		if strictSchema {
			continue
		}
		for _, path := range unknownValueKeys(values, defaults, "") {
			t.Errorf("%s: value %s is not in the chart's values", u.chart.Name, path)
		}
	}
	config := in(releaseOfChart(t, p, certmanager.Chart.Name), "values.config")
	if err := k8svalidate.Strict(config, &controllerconfig.ControllerConfiguration{}); err != nil {
		t.Errorf("cert-manager values.config is not a ControllerConfiguration: %v", err)
	}
}

func readChartDefaults(t *testing.T, dir string) map[string]any {
	t.Helper()
	for _, name := range []string{"values.yaml", "values.tmpl.yaml"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := yaml.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s/%s: %v", dir, name, err)
		}
		return v
	}
	t.Fatalf("%s has no values.yaml", dir)
	return nil
}

// unknownValueKeys lists the paths of values whose key the defaults lack. Where the defaults hold an empty map
// (annotations: {}) any key is allowed.
func unknownValueKeys(values, defaults map[string]any, prefix string) []string {
	var unknown []string
	for k, v := range values {
		d, ok := defaults[k]
		if !ok {
			unknown = append(unknown, prefix+k)
			continue
		}
		vm, isMap := v.(map[string]any)
		dm, defaultIsMap := d.(map[string]any)
		if isMap && defaultIsMap && len(dm) > 0 {
			unknown = append(unknown, unknownValueKeys(vm, dm, prefix+k+".")...)
		}
	}
	sort.Strings(unknown)
	return unknown
}

func copyValues(v map[string]any) map[string]any {
	b, _ := yaml.Marshal(v)
	var out map[string]any
	_ = yaml.Unmarshal(b, &out)
	return out
}

func TestStackAuthAdmitsTheRateLimitGatewayPodsTheEdgeRoutesTo(t *testing.T) {
	for _, stack := range stacks {
		p := preview(t, stack)
		app := releaseOfChart(t, p, stackauth.DefaultChartDir)
		callers, _ := in(app, "values.networkPolicy.apiClients.podLabels").(map[string]any)
		if len(callers) == 0 {
			t.Fatalf("%s: the stack-backend release admits no API callers", stack)
		}
		api := byObjectName(t, p, httpRouteType, edge.RouteName(edge.DefaultGatewayName, "api"))
		service := byObjectName(t, p, "kubernetes:core/v1:Service", in(api, "spec.rules.0.backendRefs.0.name").(string))
		deployment := byObjectName(t, p, "kubernetes:apps/v1:Deployment", in(service, "metadata.name").(string))
		podLabels, _ := in(deployment, "spec.template.metadata.labels").(map[string]any)
		selector, _ := in(service, "spec.selector").(map[string]any)
		for k, v := range callers {
			if podLabels[k] != v {
				t.Errorf("%s: the API port admits pods with %s=%v, but the pods behind the API route have %s=%v", stack, k, v, k, podLabels[k])
			}
		}
		for k, v := range selector {
			if podLabels[k] != v {
				t.Errorf("%s: Service %s selects %s=%v, which its Deployment's pods lack", stack, in(service, "metadata.name"), k, v)
			}
		}
	}
}
