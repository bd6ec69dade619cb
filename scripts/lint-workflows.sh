#!/usr/bin/env bash
# Lints the delivery code: actionlint (pinned, built from the Go module proxy) over every workflow, which also
# runs ShellCheck on their `run:` scripts; ShellCheck on the scripts the workflows call; a syntax check of the
# k6 scripts. Fails on any finding.
#
# ShellCheck: actionlint uses it when it is on PATH. In CI (CI=true, as root) it is installed from the
# distribution's packages when missing, and its absence fails the run; elsewhere a missing shellcheck is a
# warning, and the shell inside the workflows goes unchecked.
set -euo pipefail

actionlint_version=v1.7.12
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

tool_dir="${XDG_CACHE_HOME:-$HOME/.cache}/stackauth-infra/actionlint-$actionlint_version"
actionlint="$tool_dir/actionlint"
if [[ ! -x "$actionlint" ]]; then
  echo "building actionlint $actionlint_version from the Go module proxy into $tool_dir"
  GOBIN="$tool_dir" GOFLAGS=-mod=mod go install "github.com/rhysd/actionlint/cmd/actionlint@$actionlint_version"
fi
if ! "$actionlint" -version | head -n 1 | grep -qx "$actionlint_version"; then
  echo "$actionlint is not actionlint $actionlint_version" >&2
  exit 1
fi

if ! command -v shellcheck >/dev/null && [[ "${CI:-}" == true && $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  echo "installing shellcheck with apt-get"
  apt-get install -y -qq shellcheck >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq shellcheck >/dev/null; }
fi
shellcheck_args=()
if command -v shellcheck >/dev/null; then
  shellcheck_args=(-shellcheck "$(command -v shellcheck)")
elif [[ "${CI:-}" == true ]]; then
  echo "shellcheck is required in CI and could not be installed" >&2
  exit 1
else
  echo "warning: shellcheck not found; the shell in workflow run: steps and .github/scripts goes unchecked" >&2
  shellcheck_args=(-shellcheck=)
fi

mapfile -t workflows < <(find .github/workflows -type f \( -name '*.yml' -o -name '*.yaml' \) | sort)
if [[ ${#workflows[@]} -eq 0 ]]; then
  echo "no workflows under .github/workflows" >&2
  exit 1
fi
"$actionlint" "${shellcheck_args[@]}" "${workflows[@]}"
echo "actionlint $actionlint_version: ${#workflows[@]} workflows, no findings"

mapfile -t shell_scripts < <(find .github/scripts scripts -type f -name '*.sh' | sort)
if command -v shellcheck >/dev/null; then
  shellcheck "${shell_scripts[@]}"
  echo "shellcheck: ${#shell_scripts[@]} scripts, no findings"
fi

# k6 scripts are ES modules. Plain `node --check file.js` on Node 20 passes a module with a syntax error
# (it falls back to module detection without reporting), so the source is fed as a module explicitly,
# and the check proves on a broken copy that it can fail.
mapfile -t k6_scripts < <(find tests/load-testing/k6 -type f -name '*.js' | sort)
check_module() { node --input-type=module --check <"$1"; }
broken=$(mktemp)
trap 'rm -f "$broken"' EXIT
printf 'export const options = {;\n' >"$broken"
if check_module "$broken" 2>/dev/null; then
  echo "node --check accepted a broken module; the k6 syntax check would prove nothing" >&2
  exit 1
fi
for script in "${k6_scripts[@]}"; do
  check_module "$script"
done
echo "node --check: ${#k6_scripts[@]} k6 scripts parse"
