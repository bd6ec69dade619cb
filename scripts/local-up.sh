#!/usr/bin/env bash
# The main job: the local stack (Pulumi.local.yaml) on the cluster of the current kubeconfig context, with a
# local file state backend and a passphrase secrets provider. Without the Pulumi CLI or a reachable cluster it says
# what is missing and shows the offline plan of the same stack instead, so nothing is deployed by surprise.
set -euo pipefail
cd "$(dirname "$0")/.."

state_dir="${STACK_AUTH_STATE_DIR:-$PWD/.pulumi-state}"
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$state_dir}"
# The passphrase encrypts this stack's secrets in the local state; set your own for anything you keep.
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE-local-stack-only}"

missing=()
command -v pulumi >/dev/null 2>&1 || missing+=("the Pulumi CLI (https://www.pulumi.com/docs/install/)")
if ! command -v kubectl >/dev/null 2>&1; then
  missing+=("kubectl")
elif ! kubectl version --request-timeout=5s >/dev/null 2>&1; then
  missing+=("a reachable cluster in the current kubeconfig context (kind, minikube, k3d or Docker Desktop)")
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "local-up: not deploying; missing:" >&2
  for m in "${missing[@]}"; do echo "  - $m" >&2; done
  echo "local-up: this is what the local stack would create (offline plan):" >&2
  exec go run ./cmd/plan --stack local
fi

mkdir -p "$state_dir"
pulumi stack select local 2>/dev/null || pulumi stack init local --secrets-provider passphrase
pulumi up --stack local --yes --skip-preview=false

api=$(pulumi stack output apiUrl --stack local)
dashboard=$(pulumi stack output dashboardUrl --stack local)
namespace=$(pulumi stack output namespace --stack local)
cat <<MSG

Stack Auth is running in namespace $namespace.
  API:       $api
  Dashboard: $dashboard
*.localtest.me resolves to 127.0.0.1. If your cluster gives the edge no external address, forward it:
  kubectl -n envoy-gateway-system port-forward service/\$(kubectl -n envoy-gateway-system get service -o name | grep envoy- | head -1 | cut -d/ -f2) 8443:443
and open https://dashboard.localtest.me:8443. The certificate is self-signed: accept it in the browser.
Log in to the dashboard by signing up there (the local stack seeds its internal project with sign-up on).
Tear down: PULUMI_BACKEND_URL=$PULUMI_BACKEND_URL pulumi destroy --stack local
MSG
