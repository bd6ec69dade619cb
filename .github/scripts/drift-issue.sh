#!/usr/bin/env bash
# Keeps one GitHub issue per drifted stack, found by its label drift:<stack>:
#   drifted: create it, or replace the body of the open one with the latest report (never a second issue);
#   clean:   close the open one, if any.
#
# Usage: drift-issue.sh <stack> <clean|drifted> <report.md>   (needs GH_TOKEN; GH_REPO outside a checkout)
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 <stack> <clean|drifted> <report.md>" >&2
  exit 2
fi
stack=$1
status=$2
report=$3
label="drift:$stack"
if [[ $status != clean && $status != drifted ]]; then
  echo "status must be clean or drifted, got '$status'" >&2
  exit 2
fi
if [[ $status == drifted && ! -s "$report" ]]; then
  echo "report $report is missing or empty" >&2
  exit 1
fi

# The oldest open issue with the label is the one; a duplicate opened by hand is left alone.
open_issue=$(gh issue list --label "$label" --state open --limit 100 --json number --jq '.[].number' | sort -n | head -n 1)

case "$status" in
  drifted)
    gh label create "$label" --color D93F0B --description "Drift detected in stack $stack" --force >/dev/null
    if [[ -n "$open_issue" ]]; then
      gh issue edit "$open_issue" --body-file "$report" >/dev/null
      echo "updated drift issue #$open_issue for $stack"
    else
      gh issue create --title "Drift detected in stack $stack" --label "$label" --body-file "$report"
    fi
    ;;
  clean)
    if [[ -n "$open_issue" ]]; then
      gh issue close "$open_issue" --comment "No drift in stack $stack any more (${RUN_URL:-local run}). Closing."
      echo "closed drift issue #$open_issue for $stack"
    else
      echo "no drift in $stack and no open drift issue"
    fi
    ;;
esac
