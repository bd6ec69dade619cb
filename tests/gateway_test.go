package tests

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/stackauth-platform/infra/components/credentials"
	"github.com/stackauth-platform/infra/components/gatewayimage"
	"github.com/stackauth-platform/infra/config"
	"github.com/stackauth-platform/infra/internal/k8svalidate"
	"github.com/stackauth-platform/infra/internal/plan"
	"github.com/stackauth-platform/infra/program"
	"github.com/stackauth-platform/infra/ratelimit/rules"
)

const (
	gatewayDeploymentType = "kubernetes:apps/v1:Deployment"
	gatewayName           = "ratelimit-gateway"
	prodGatewayRepoURL    = "123456789012.dkr.ecr.us-east-1.amazonaws.com/stackauth-prod/ratelimit"
)

// No test of this package may build the real binary or reach a registry by accident: every plan that runs as an
// up pushes a placeholder image to an in-memory registry unless the test sets its own publisher.
func init() {
	program.GatewayImagePublisher = func(*pulumi.Context, *config.Stack) gatewayimage.Publisher {
		return gatewayimage.InMemory("0.0.0-tests")
	}
}

// loopbackECR stands in for the stack's ECR registry: go-containerregistry's in-memory registry on a loopback port,
// reached through a transport that sends the mock ECR host there and answers as ECR does: Basic auth with the user
// and password of the mock authorization token, 401 and a Basic challenge without them.
type loopbackECR struct {
	srv *httptest.Server

	mu           sync.Mutex
	requests     int      // requests that reached the registry
	manifestPuts []string // paths of manifest PUTs, in order
	challenged   int      // requests refused for lack of the token's credentials
}

func newLoopbackECR() *loopbackECR {
	return &loopbackECR{srv: httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))}
}

func (r *loopbackECR) RoundTrip(req *http.Request) (*http.Response, error) {
	loopback := r.srv.Listener.Addr().String()
	if !strings.HasSuffix(req.URL.Hostname(), ".amazonaws.com") {
		return nil, fmt.Errorf("loopback ECR: unexpected host %s", req.URL.Host)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if user, password, ok := req.BasicAuth(); !ok || user != "AWS" || password != plan.ECRPassword {
		r.challenged++
		return &http.Response{
			StatusCode: http.StatusUnauthorized,
			Header:     http.Header{"Www-Authenticate": {`Basic realm="https://` + req.URL.Host + `/"`}},
			Body:       io.NopCloser(strings.NewReader("")),
			Request:    req,
		}, nil
	}
	r.requests++
	if req.Method == http.MethodPut && strings.Contains(req.URL.Path, "/manifests/") {
		r.manifestPuts = append(r.manifestPuts, req.URL.Path)
	}
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host, out.Host = "http", loopback, loopback
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	// Upload locations name the registry's own address; the client must come back through the ECR host.
	if loc := resp.Header.Get("Location"); strings.HasPrefix(loc, "http://"+loopback) {
		resp.Header.Set("Location", "https://"+req.URL.Host+strings.TrimPrefix(loc, "http://"+loopback))
	}
	resp.Request = req
	return resp, nil
}

func (r *loopbackECR) counts() (requests, puts, challenged int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests, len(r.manifestPuts), r.challenged
}

func (r *loopbackECR) publisher(build func(context.Context) (gatewayimage.Built, error)) gatewayimage.Publisher {
	return gatewayimage.Publisher{Build: build, Remote: []remote.Option{remote.WithTransport(r)}}
}

// head reads a tag of the prod repository as a client with the mock token would.
func (r *loopbackECR) head(t *testing.T, tag string) (*v1.Descriptor, error) {
	t.Helper()
	ref, err := name.NewTag(prodGatewayRepoURL + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	return remote.Head(ref, r.options()...)
}

func (r *loopbackECR) options() []remote.Option {
	return []remote.Option{remote.WithTransport(r), remote.WithAuth(&authn.Basic{Username: "AWS", Password: plan.ECRPassword})}
}

func fixedGatewayBuild(b gatewayimage.Built) func(context.Context) (gatewayimage.Built, error) {
	return func(context.Context) (gatewayimage.Built, error) { return b, nil }
}

// useGatewayPublisher makes the program use pub for the rest of the test.
func useGatewayPublisher(t *testing.T, pub func(*pulumi.Context, *config.Stack) gatewayimage.Publisher) {
	previous := program.GatewayImagePublisher
	program.GatewayImagePublisher = pub
	t.Cleanup(func() { program.GatewayImagePublisher = previous })
}

func gatewayImage(t *testing.T, p *plan.Plan) string {
	t.Helper()
	image, _ := in(named(t, p, gatewayDeploymentType, gatewayName), "spec.template.spec.containers.0.image").(string)
	return image
}

func indexDigest(t *testing.T, index v1.ImageIndex) string {
	t.Helper()
	d, err := index.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

var gatewayByDigest = regexp.MustCompile(`^` + regexp.QuoteMeta(prodGatewayRepoURL) + `@sha256:[0-9a-f]{64}$`)

// TestGatewayImageIsBuiltAndPushedDuringUp runs prod as an up with the program's real build (go build of the
// gateway from this checkout, offline), pushing to the loopback registry with the mock ECR token. It then runs the
// up again on the same registry and checks that nothing is pushed twice and the Deployment keeps its image, and
// that a changed image rolls while a changed image under a used tag is refused.
func TestGatewayImageIsBuiltAndPushedDuringUp(t *testing.T) {
	ecr := newLoopbackECR()
	defer ecr.srv.Close()
	var built []gatewayimage.Built
	useGatewayPublisher(t, func(ctx *pulumi.Context, cfg *config.Stack) gatewayimage.Publisher {
		// The plan runs the program in the project directory, as the CLI does.
		fromSource := gatewayimage.FromSource(ctx, gatewayimage.Source{ModuleDir: ".", URL: "https://github.com/stackauth-platform/infra"})
		return ecr.publisher(func(c context.Context) (gatewayimage.Built, error) {
			b, err := fromSource(c)
			built = append(built, b)
			return b, err
		})
	})
	up := run(t, plan.Options{Stack: "prod"})
	if len(built) != 1 {
		t.Fatalf("the up built the image %d times, want once", len(built))
	}
	first := built[0]
	image := gatewayImage(t, up)
	if !gatewayByDigest.MatchString(image) {
		t.Fatalf("gateway image %q, want %s@sha256:<64 hex>", image, prodGatewayRepoURL)
	}
	if want := prodGatewayRepoURL + "@" + indexDigest(t, first.Index); image != want {
		t.Errorf("gateway image %s, want the built index %s", image, want)
	}
	_, puts, challenged := ecr.counts()
	if puts != 3 || challenged == 0 {
		t.Errorf("registry saw %d manifest PUTs and %d unauthenticated requests; want 3 PUTs (two platform images, the index) after ECR's auth challenge", puts, challenged)
	}
	desc, err := ecr.head(t, first.Tag)
	if err != nil || desc.Digest.String() != indexDigest(t, first.Index) {
		t.Fatalf("tag %s in the registry: %v %v, want the built index", first.Tag, desc, err)
	}
	pushed, err := remote.Index(parseRef(t, prodGatewayRepoURL+":"+first.Tag), ecr.options()...)
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := pushed.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var platforms []string
	for _, m := range manifest.Manifests {
		platforms = append(platforms, m.Platform.OS+"/"+m.Platform.Architecture)
		platformTag := gatewayimage.PlatformTag(first.Tag, m.Platform)
		if d, err := ecr.head(t, platformTag); err != nil || d.Digest != m.Digest {
			t.Errorf("platform tag %s: %v %v, want %s (an untagged platform image could be expired under its index)", platformTag, d, err, m.Digest)
		}
	}
	sort.Strings(platforms)
	if fmt.Sprint(platforms) != "[linux/amd64 linux/arm64]" {
		t.Errorf("pushed index has platforms %v, want linux/amd64 and linux/arm64", platforms)
	}

	// The same build again: the registry has it, so nothing is written and the Deployment does not change.
	useGatewayPublisher(t, func(*pulumi.Context, *config.Stack) gatewayimage.Publisher {
		return ecr.publisher(fixedGatewayBuild(first))
	})
	again := run(t, plan.Options{Stack: "prod"})
	if got := gatewayImage(t, again); got != image {
		t.Errorf("an unchanged build changed the image from %s to %s", image, got)
	}
	if _, p, _ := ecr.counts(); p != puts {
		t.Errorf("an unchanged build wrote %d more manifests; the tags are immutable and it must not be pushed again", p-puts)
	}

	// A new version rolls the Deployment.
	next := gatewayimage.Placeholder(first.Tag+"-next", "changed")
	useGatewayPublisher(t, func(*pulumi.Context, *config.Stack) gatewayimage.Publisher {
		return ecr.publisher(fixedGatewayBuild(next))
	})
	if got, want := gatewayImage(t, run(t, plan.Options{Stack: "prod"})), prodGatewayRepoURL+"@"+indexDigest(t, next.Index); got != want {
		t.Errorf("a new build gave image %s, want %s", got, want)
	}

	// Other content under a tag that is taken cannot be pushed: the up fails and says why.
	useGatewayPublisher(t, func(*pulumi.Context, *config.Stack) gatewayimage.Publisher {
		return ecr.publisher(fixedGatewayBuild(gatewayimage.Placeholder(first.Tag, "other content")))
	})
	_, err = plan.Run(plan.Options{Stack: "prod", Dir: ".."}, program.Define)
	if err == nil || !strings.Contains(err.Error(), "immutable") || !strings.Contains(err.Error(), first.Tag) {
		t.Errorf("pushing other content under tag %s: %v, want an error about the immutable tag", first.Tag, err)
	}
}

func parseRef(t *testing.T, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// TestGatewayPreviewBuildsAndPushesNothing: a preview neither builds nor reaches the registry, and the Deployment's
// image is unknown until an up has pushed it. The repository itself is planned.
func TestGatewayPreviewBuildsAndPushesNothing(t *testing.T) {
	ecr := newLoopbackECR()
	defer ecr.srv.Close()
	builds := 0
	useGatewayPublisher(t, func(*pulumi.Context, *config.Stack) gatewayimage.Publisher {
		return ecr.publisher(func(context.Context) (gatewayimage.Built, error) {
			builds++
			return gatewayimage.Placeholder("0.0.0-preview", "preview"), nil
		})
	})
	for _, stack := range stacks {
		p := preview(t, stack)
		if image := gatewayImage(t, p); image != plan.Unknown {
			t.Errorf("%s: preview gives the gateway image %q, want %s (nothing is built in a preview)", stack, image, plan.Unknown)
		}
		repo := one(t, p, "aws:ecr/repository:Repository")
		expect(t, repo, "name", "stackauth-"+stack+"/ratelimit")
		expect(t, repo, "imageTagMutability", "IMMUTABLE")
		expect(t, repo, "imageScanningConfiguration.scanOnPush", true)
		expect(t, repo, "encryptionConfigurations.0.encryptionType", "KMS")
		expect(t, repo, "forceDelete", stack != "prod")
		key := repo.PropertyDependencies["encryptionConfigurations"]
		if len(key) != 1 || !strings.Contains(key[0], "aws:kms/key:Key::gateway-image") {
			t.Errorf("%s: repository encryption depends on %v, want the component's own KMS key", stack, key)
		}
		checkGatewayLifecyclePolicy(t, one(t, p, "aws:ecr/lifecyclePolicy:LifecyclePolicy"))
	}
	requests, _, challenged := ecr.counts()
	if builds != 0 || requests+challenged != 0 {
		t.Errorf("previews built %d times and sent %d registry requests; want none", builds, requests+challenged)
	}
}

func checkGatewayLifecyclePolicy(t *testing.T, r plan.Resource) {
	t.Helper()
	var doc struct {
		Rules []struct {
			RulePriority int
			Selection    struct {
				TagStatus      string
				TagPatternList []string
				CountType      string
				CountUnit      string
				CountNumber    int
			}
			Action struct{ Type string }
		}
	}
	if err := json.Unmarshal([]byte(r.Inputs["policy"].(string)), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Rules) != 2 {
		t.Fatalf("lifecycle policy has %d rules, want untagged expiry and a count of tagged releases", len(doc.Rules))
	}
	untagged, tagged := doc.Rules[0], doc.Rules[1]
	if untagged.Selection.TagStatus != "untagged" || untagged.Selection.CountType != "sinceImagePushed" || untagged.Selection.CountUnit != "days" || untagged.Selection.CountNumber < 1 || untagged.Selection.CountNumber > 7 {
		t.Errorf("rule 1 %+v: want untagged images expired after a few days", untagged)
	}
	if tagged.Selection.TagStatus != "tagged" || tagged.Selection.CountType != "imageCountMoreThan" || tagged.Selection.CountNumber%3 != 0 || tagged.Selection.CountNumber < 3 {
		t.Errorf("rule 2 %+v: want the last N tagged releases kept, 3 images (index, amd64, arm64) per release", tagged)
	}
	if untagged.RulePriority >= tagged.RulePriority || untagged.Action.Type != "expire" || tagged.Action.Type != "expire" {
		t.Errorf("rules %+v: want two expire rules, untagged first", doc.Rules)
	}
}

// gatewayEnv returns the gateway container's env by name.
func gatewayEnv(t *testing.T, p *plan.Plan) map[string]map[string]any {
	t.Helper()
	vars, _ := in(named(t, p, gatewayDeploymentType, gatewayName), "spec.template.spec.containers.0.env").([]any)
	out := map[string]map[string]any{}
	for _, v := range vars {
		e := v.(map[string]any)
		out[e["name"].(string)] = e
	}
	return out
}

// TestGatewayRouteGraph: the edge sends the API host to the gateway's Service, that Service reaches the gateway's
// pods on the port they listen on, and the gateway's upstream is the Stack Auth API Service.
func TestGatewayRouteGraph(t *testing.T) {
	p := preview(t, "prod")
	service := named(t, p, "kubernetes:core/v1:Service", gatewayName)
	deployment := named(t, p, gatewayDeploymentType, gatewayName)
	ns := "stack-auth-prod"
	expect(t, service, "metadata.namespace", ns)
	expect(t, deployment, "metadata.namespace", ns)

	routes := p.ByType("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute")
	if len(routes) == 0 {
		t.Fatal("no HTTPRoute in the plan: the edge must route the API host to the gateway")
	}
	var apiRoutes []plan.Resource
	for _, r := range routes {
		if hosts, _ := in(r, "spec.hostnames").([]any); len(hosts) == 1 && hosts[0] == "api.auth.example.com" {
			apiRoutes = append(apiRoutes, r)
		}
	}
	if len(apiRoutes) != 1 {
		t.Fatalf("%d HTTPRoutes for the API host, want 1", len(apiRoutes))
	}
	route := apiRoutes[0]
	expect(t, route, "metadata.namespace", ns)
	rulesOf, _ := in(route, "spec.rules").([]any)
	for i := range rulesOf {
		backends, _ := in(route, fmt.Sprintf("spec.rules.%d.backendRefs", i)).([]any)
		if len(backends) != 1 {
			t.Fatalf("API route rule %d has %d backends, want only the gateway", i, len(backends))
		}
		expect(t, route, fmt.Sprintf("spec.rules.%d.backendRefs.0.name", i), gatewayName)
		expect(t, route, fmt.Sprintf("spec.rules.%d.backendRefs.0.port", i), 8080)
	}

	// Service port 8080 -> the pods' port named http, which is where LISTEN_ADDR listens.
	ports, _ := in(service, "spec.ports").([]any)
	found := false
	for _, port := range ports {
		m := port.(map[string]any)
		if fmt.Sprint(m["port"]) == "8080" {
			found = true
			if m["targetPort"] != "http" {
				t.Errorf("Service port 8080 targets %v, want the container port named http", m["targetPort"])
			}
		}
	}
	if !found {
		t.Errorf("Service %s has no port 8080: %v", gatewayName, ports)
	}
	expect(t, deployment, "spec.template.spec.containers.0.ports.0.name", "http")
	expect(t, deployment, "spec.template.spec.containers.0.ports.0.containerPort", 8080)
	if e := gatewayEnv(t, p); e["LISTEN_ADDR"]["value"] != ":8080" {
		t.Errorf("LISTEN_ADDR %v, want :8080", e["LISTEN_ADDR"])
	}
	selector, _ := in(service, "spec.selector").(map[string]any)
	podLabels, _ := in(deployment, "spec.template.metadata.labels").(map[string]any)
	for k, v := range selector {
		if podLabels[k] != v {
			t.Errorf("Service selects %s=%v, which the gateway pods (%v) do not carry", k, v, podLabels)
		}
	}

	// Gateway -> the Stack Auth release's Service on the API port.
	release := named(t, p, "kubernetes:helm.sh/v3:Release", "stack-auth")
	upstream, err := url.Parse(fmt.Sprint(gatewayEnv(t, p)["UPSTREAM_URL"]["value"]))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%v.%v.svc", in(release, "name"), in(release, "namespace")); upstream.Scheme != "http" || upstream.Hostname() != want || upstream.Port() != "8102" {
		t.Errorf("UPSTREAM_URL %s, want http://%s:8102 (the Stack Auth release's Service, API port)", upstream, want)
	}
	if in(release, "name") != "stack-backend" {
		t.Errorf("Stack Auth release is named %v, want stack-backend (its Service name)", in(release, "name"))
	}
}

// TestGatewayRedisAndCallerSecretComeFromTheSyncedSecret: the gateway's Redis URL (with the AUTH token) and the
// trusted-caller secret are references into the Secret External Secrets syncs, under keys the credentials
// component really puts there; no Redis URL or secret value is written into the Deployment.
func TestGatewayRedisAndCallerSecretComeFromTheSyncedSecret(t *testing.T) {
	p := run(t, plan.Options{Stack: "prod"})
	e := gatewayEnv(t, p)
	var target any
	for _, es := range p.ByType("kubernetes:external-secrets.io/v1:ExternalSecret") {
		if in(es, "metadata.namespace") == "stack-auth-prod" {
			if target != nil {
				t.Fatal("two ExternalSecrets in the app namespace; which one feeds the gateway is ambiguous")
			}
			target = in(es, "spec.target.name")
		}
	}
	if target == nil {
		t.Fatal("no ExternalSecret in the app namespace makes the Secret the gateway reads")
	}
	for name, key := range map[string]string{"REDIS_URL": "REDIS_URL", "TRUSTED_CALLER_HMAC_SECRET": "RATE_LIMIT_TRUSTED_CALLER_SECRET"} {
		v := e[name]
		if _, literal := v["value"]; literal || v == nil {
			t.Errorf("%s is %v, want a secretKeyRef and no value", name, v)
			continue
		}
		ref, _ := v["valueFrom"].(map[string]any)["secretKeyRef"].(map[string]any)
		if ref["name"] != target || ref["key"] != key {
			t.Errorf("%s comes from %v, want key %s of the synced Secret %v", name, ref, key, target)
		}
	}
	keys := credentialsEnvironmentKeys(t)
	for _, key := range []string{"REDIS_URL", "RATE_LIMIT_TRUSTED_CALLER_SECRET"} {
		if !keys[key] {
			t.Errorf("credentials.Environment has no %s, so the Secret would lack it; keys: %v", key, keys)
		}
	}
	walkStrings(named(t, p, gatewayDeploymentType, gatewayName).Inputs, func(s string) {
		if strings.Contains(s, "redis://") || strings.Contains(s, "rediss://") || strings.Contains(s, plan.SecretMarker) || s == plan.Secret {
			t.Errorf("the Deployment holds %q; secrets must stay in the Secret", s)
		}
	})
}

// credentialsEnvironmentKeys are the keys credentials.Environment gives the synced secret.
func credentialsEnvironmentKeys(t *testing.T) map[string]bool {
	t.Helper()
	p, err := plan.Run(plan.Options{Stack: "prod", Dir: "..", Preview: true, Program: func(ctx *pulumi.Context) (map[string]pulumi.Output, error) {
		creds, err := credentials.NewCredentials(ctx, "credentials")
		if err != nil {
			return nil, err
		}
		var keys []string
		for k := range creds.Environment(credentials.Endpoints{DatabaseHost: pulumi.String("db"), CacheHost: pulumi.String("cache"), CachePort: 6379, CacheTLS: true}, nil) {
			keys = append(keys, k)
		}
		return map[string]pulumi.Output{"keys": pulumi.ToStringArray(keys).ToStringArrayOutput()}, nil
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	keys, ok := p.Outputs["keys"].([]string)
	if !ok {
		t.Fatalf("keys output is %T", p.Outputs["keys"])
	}
	out := map[string]bool{}
	for _, k := range keys {
		out[k] = true
	}
	return out
}

// TestGatewayWorkload: replicas, resources and in-flight limit from config, the hardening the restricted Pod
// Security level asks for, probes on the admin port, spread over zones, and rules whose hash rolls the pods.
func TestGatewayWorkload(t *testing.T) {
	for _, stack := range stacks {
		t.Run(stack, func(t *testing.T) {
			p := preview(t, stack)
			cfg, err := config.Parse(stack, gatewayConfigSource(p.Config))
			if err != nil {
				t.Fatal(err)
			}
			d := named(t, p, gatewayDeploymentType, gatewayName)
			if in(d, "spec.replicas") != nil {
				t.Errorf("Deployment sets replicas %v; the HPA owns the count", in(d, "spec.replicas"))
			}
			hpa := named(t, p, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", gatewayName)
			expect(t, hpa, "spec.minReplicas", cfg.Gateway.MinReplicas)
			expect(t, hpa, "spec.maxReplicas", cfg.Gateway.MaxReplicas)
			expect(t, hpa, "spec.scaleTargetRef.name", gatewayName)
			expect(t, named(t, p, "kubernetes:policy/v1:PodDisruptionBudget", gatewayName), "spec.maxUnavailable", 1)

			pod := "spec.template.spec."
			c := pod + "containers.0."
			for path, want := range map[string]any{
				pod + "automountServiceAccountToken":                  false,
				pod + "securityContext.runAsNonRoot":                  true,
				pod + "securityContext.runAsUser":                     65532,
				pod + "securityContext.seccompProfile.type":           "RuntimeDefault",
				c + "securityContext.readOnlyRootFilesystem":          true,
				c + "securityContext.allowPrivilegeEscalation":        false,
				c + "securityContext.capabilities.drop":               []any{"ALL"},
				c + "livenessProbe.httpGet.path":                      "/health",
				c + "livenessProbe.httpGet.port":                      "admin",
				c + "readinessProbe.httpGet.path":                     "/ready",
				c + "readinessProbe.httpGet.port":                     "admin",
				c + "ports.1.containerPort":                           9090,
				c + "resources.requests.cpu":                          cfg.Gateway.CPURequest,
				c + "resources.requests.memory":                       cfg.Gateway.MemoryRequest,
				c + "resources.limits.cpu":                            cfg.Gateway.CPULimit,
				c + "resources.limits.memory":                         cfg.Gateway.MemoryLimit,
				pod + "topologySpreadConstraints.0.topologyKey":       "topology.kubernetes.io/zone",
				pod + "topologySpreadConstraints.0.whenUnsatisfiable": "DoNotSchedule",
			} {
				expect(t, d, path, want)
			}
			expect(t, named(t, p, "kubernetes:core/v1:ServiceAccount", gatewayName), "automountServiceAccountToken", false)
			e := gatewayEnv(t, p)
			for name, want := range map[string]string{
				"MAX_CONCURRENT_REQUESTS": fmt.Sprint(cfg.Gateway.MaxConcurrentRequests),
				"ADMIN_ADDR":              ":9090",
				"STACK_AUTH_API_URL":      cfg.APIURL(),
				"STACK_AUTH_PROJECT_ID":   cfg.Gateway.ProjectID,
				"STACK_AUTH_JWKS_URL":     "http://stack-backend.stack-auth-" + stack + ".svc:8102/api/v1/projects/" + cfg.Gateway.ProjectID + "/.well-known/jwks.json",
				"RULES_FILE":              "/etc/ratelimit/rules.yaml",
			} {
				if e[name]["value"] != want {
					t.Errorf("%s = %v, want %s", name, e[name]["value"], want)
				}
			}
			// The edge's proxies get private-subnet addresses; the load balancer's public ones are not trusted.
			if got := fmt.Sprint(e["TRUSTED_PROXIES"]["value"]); strings.Contains(got, "0.0.0.0/0") || len(strings.Split(got, ",")) != 3 {
				t.Errorf("TRUSTED_PROXIES %s, want the three private subnets", got)
			}

			rulesMap := named(t, p, "kubernetes:core/v1:ConfigMap", gatewayName+"-rules")
			data := fmt.Sprint(in(rulesMap, "data.rules.yaml"))
			if data != string(rules.DefaultYAML()) {
				t.Errorf("rules ConfigMap does not hold the built-in rules")
			}
			sum := sha256.Sum256([]byte(data))
			expect(t, d, "spec.template.metadata.annotations.stackauth.dev/rules-sha256", hex.EncodeToString(sum[:]))
		})
	}
}

// TestGatewayRulesFileRollsThePods: other rules change the pod template (so the pods roll); bad rules stop the
// run with the config key named.
func TestGatewayRulesFileRollsThePods(t *testing.T) {
	dir := t.TempDir()
	custom := strings.Replace(string(rules.DefaultYAML()), "limit: 5\n", "limit: 4\n", 1)
	if custom == string(rules.DefaultYAML()) {
		t.Fatal("the default rules have no 'limit: 5' to change; update the test")
	}
	good, bad := filepath.Join(dir, "rules.yaml"), filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte(custom), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("tiers: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	annotation := "spec.template.metadata.annotations.stackauth.dev/rules-sha256"
	before := in(named(t, preview(t, "staging"), gatewayDeploymentType, gatewayName), annotation)
	p := run(t, plan.Options{Stack: "staging", Preview: true, Set: map[string]string{"stackauth:gatewayRulesFile": good}})
	if got := in(named(t, p, "kubernetes:core/v1:ConfigMap", gatewayName+"-rules"), "data.rules.yaml"); got != custom {
		t.Errorf("rules ConfigMap holds %v, want the rules file", got)
	}
	if after := in(named(t, p, gatewayDeploymentType, gatewayName), annotation); after == before {
		t.Errorf("changed rules kept the pod template annotation %v: the pods would not roll", after)
	}
	_, err := plan.Run(plan.Options{Stack: "staging", Dir: "..", Preview: true, Set: map[string]string{"stackauth:gatewayRulesFile": bad}}, program.Define)
	if err == nil || !strings.Contains(err.Error(), "stackauth:gatewayRulesFile") || !strings.Contains(err.Error(), "tiers") {
		t.Errorf("bad rules file: %v, want an error naming stackauth:gatewayRulesFile and the bad field", err)
	}
}

// TestGatewayNetworkPolicy: in from the edge (traffic) and Prometheus (admin) only; out to the API pods, Redis and
// DNS only.
func TestGatewayNetworkPolicy(t *testing.T) {
	p := preview(t, "prod")
	np := named(t, p, "kubernetes:networking.k8s.io/v1:NetworkPolicy", gatewayName)
	expect(t, np, "spec.policyTypes", []any{"Ingress", "Egress"})
	expect(t, np, "spec.podSelector.matchLabels", in(named(t, p, gatewayDeploymentType, gatewayName), "spec.selector.matchLabels"))
	edgeNS := in(one(t, p, "kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy"), "metadata.namespace")
	expect(t, np, "spec.ingress.0.from.0.namespaceSelector.matchLabels.kubernetes.io/metadata.name", edgeNS)
	expect(t, np, "spec.ingress.0.ports.0.port", 8080)
	if ingress, _ := in(np, "spec.ingress").([]any); len(ingress) > 2 {
		t.Errorf("%d ingress rules, want the edge and Prometheus only", len(ingress))
	}
	expect(t, np, "spec.egress.0.to.0.podSelector.matchLabels.app.kubernetes.io/component", "server")
	expect(t, np, "spec.egress.0.ports.0.port", 8102)
	expect(t, np, "spec.egress.1.ports.0.port", 6379)
	expect(t, np, "spec.egress.2.to.0.podSelector.matchLabels.k8s-app", "kube-dns")
	if egress, _ := in(np, "spec.egress").([]any); len(egress) != 3 {
		t.Errorf("%d egress rules, want API, Redis and DNS", len(egress))
	}
	for _, peer := range in(np, "spec.egress.1.to").([]any) {
		if cidr := peer.(map[string]any)["ipBlock"].(map[string]any)["cidr"]; !strings.HasPrefix(fmt.Sprint(cidr), "10.20.") {
			t.Errorf("Redis egress to %v, want the VPC's private subnets only", cidr)
		}
	}
}

// TestGatewayServiceMonitor decodes the ServiceMonitor strictly into prometheus-operator's type and checks it
// scrapes the admin port every 15 s with a 10 s timeout, carries the monitoring release's selector labels and
// waits for the release that installs its CRD.
func TestGatewayServiceMonitor(t *testing.T) {
	p := preview(t, "prod")
	monitors := p.ByType("kubernetes:monitoring.coreos.com/v1:ServiceMonitor")
	var sm *plan.Resource
	for i := range monitors {
		if monitors[i].Name == gatewayName {
			sm = &monitors[i]
		}
	}
	if sm == nil {
		for _, r := range p.ByType("kubernetes:helm.sh/v3:Release") {
			if strings.Contains(fmt.Sprint(in(r, "chart")), "kube-prometheus-stack") {
				t.Fatalf("no ServiceMonitor %s although the monitoring release %s is planned", gatewayName, r.Name)
			}
		}
		t.Fatal("no kube-prometheus-stack release in the prod plan, so the gateway has no ServiceMonitor")
	}
	var typed monitoringv1.ServiceMonitor
	if err := k8svalidate.Strict(sm.Inputs, &typed); err != nil {
		t.Fatal(err)
	}
	if len(typed.Spec.Endpoints) != 1 {
		t.Fatalf("%d endpoints, want the admin port", len(typed.Spec.Endpoints))
	}
	ep := typed.Spec.Endpoints[0]
	if ep.Port != "admin" || ep.Path != "/metrics" || ep.Interval != "15s" || ep.ScrapeTimeout != "10s" {
		t.Errorf("endpoint port %q path %q interval %q scrapeTimeout %q, want admin /metrics 15s 10s", ep.Port, ep.Path, ep.Interval, ep.ScrapeTimeout)
	}
	service := named(t, p, "kubernetes:core/v1:Service", gatewayName)
	expect(t, service, "spec.ports.1.name", "admin")
	expect(t, service, "spec.ports.1.port", 9090)
	for k, v := range typed.Spec.Selector.MatchLabels {
		if in(service, "metadata.labels."+k) != v {
			t.Errorf("ServiceMonitor selects %s=%s, which the Service does not carry", k, v)
		}
	}
	var release *plan.Resource
	for _, r := range p.ByType("kubernetes:helm.sh/v3:Release") {
		if dependsOn(*sm, r.URN) {
			release = &r
		}
	}
	if release == nil {
		t.Fatalf("ServiceMonitor depends on %v, none of them a Helm release (the one installing its CRD)", sm.DependsOn)
	}
	if !strings.Contains(fmt.Sprint(in(*release, "chart")), "prometheus") {
		t.Errorf("ServiceMonitor waits for chart %v, want kube-prometheus-stack", in(*release, "chart"))
	}
	// kube-prometheus-stack selects ServiceMonitors by release: <release name> unless its values say otherwise.
	want := map[string]any{"release": in(*release, "name")}
	if selector, ok := in(*release, "values.prometheus.prometheusSpec.serviceMonitorSelector.matchLabels").(map[string]any); ok {
		want = selector
	}
	for k, v := range want {
		if typed.Labels[k] != v {
			t.Errorf("ServiceMonitor labels %v lack %s=%v, which the monitoring release selects by", typed.Labels, k, v)
		}
	}
}

// gatewayConfigSource reads config from a plan's non-secret config.
type gatewayConfigSource map[string]string

func (m gatewayConfigSource) Get(key string) (string, bool) { v, ok := m[key]; return v, ok }
func (m gatewayConfigSource) IsSecret(string) bool          { return false }
