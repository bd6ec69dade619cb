#!/usr/bin/env bash
# Compares a stack's recorded state with the cloud, without writing the state:
# `pulumi refresh --preview-only` shows what a refresh would change and stops there.
#
# Usage: drift-check.sh <org/stack> <report.md>
# Writes the markdown report and `status=clean|drifted` to $GITHUB_OUTPUT (stdout when unset).
# Exits non-zero when Pulumi fails for any reason other than drift (credentials, backend, provider errors):
# such a run says nothing about drift and must not open or close issues.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 <org/stack> <report.md>" >&2
  exit 2
fi
stack_ref=$1
report=$2
max_diff_bytes=60000 # GitHub caps an issue body at 65536 characters

log=$(mktemp)
trap 'rm -f "$log"' EXIT

if [[ -n "${PULUMI_BACKEND_URL:-}" ]]; then
  pulumi login "$PULUMI_BACKEND_URL" >/dev/null
fi

set +e
pulumi refresh --preview-only --expect-no-changes --diff --non-interactive --color never \
  --stack "$stack_ref" >"$log" 2>&1
rc=$?
set -e

if [[ $rc -eq 0 ]]; then
  status=clean
elif grep -Eq '[0-9]+ to (create|update|delete|replace)' "$log"; then
  status=drifted
else
  cat "$log"
  echo "::error::drift check of $stack_ref failed (exit $rc) without a drift result; see the output above"
  exit "$rc"
fi

checked_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
{
  echo "<!-- drift-report stack=$stack_ref status=$status -->"
  if [[ $status == clean ]]; then
    echo "No drift in \`$stack_ref\` at $checked_at."
  else
    echo "## Drift in \`$stack_ref\`"
    echo
    echo "Found at $checked_at by ${RUN_URL:-a local run}: the cloud no longer matches the stack's recorded state."
    echo "Below is what a refresh would change (nothing was written). README, Runbook, \"Drift\" says how to resolve it."
    echo "This issue is updated by every drift run and closed by the first clean one."
    echo
    echo '<details open><summary>refresh preview</summary>'
    echo
    echo '```diff'
    head -c "$max_diff_bytes" "$log"
    if [[ $(wc -c <"$log") -gt $max_diff_bytes ]]; then
      echo
      echo "... truncated at $max_diff_bytes bytes; the full output is in the job log of the run."
    fi
    echo '```'
    echo '</details>'
  fi
} >"$report"
if [[ $status == drifted ]]; then
  cat "$log" # the whole diff in the job log too
fi

echo "status=$status" >>"${GITHUB_OUTPUT:-/dev/stdout}"
echo "$stack_ref: $status"
