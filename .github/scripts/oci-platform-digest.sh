#!/usr/bin/env bash
# Prints the digest of the image manifest for one platform in an OCI image layout, so that a scanner that reads a
# single image (trivy image --input DIR@DIGEST) scans exactly that platform of a multi-arch build.
# Handles index.json listing the platform manifests directly or through one nested image index.
#
# Usage: oci-platform-digest.sh <layout-dir> <os/arch>      e.g. ... ./oci linux/arm64
set -euo pipefail

if [[ $# -ne 2 || "$2" != */* ]]; then
  echo "usage: $0 <layout-dir> <os/arch>" >&2
  exit 2
fi
layout=$1
os=${2%%/*}
arch=${2#*/}

if [[ ! -f "$layout/index.json" ]]; then
  echo "$layout is not an OCI image layout (no index.json)" >&2
  exit 1
fi

# Descriptors of every manifest reachable from index.json, one nested index deep.
descriptors() {
  jq -c '.manifests[]' "$layout/index.json" | while read -r descriptor; do
    media_type=$(jq -r '.mediaType' <<<"$descriptor")
    if [[ $media_type == application/vnd.oci.image.index.v1+json || $media_type == application/vnd.docker.distribution.manifest.list.v2+json ]]; then
      digest=$(jq -r '.digest' <<<"$descriptor")
      jq -c '.manifests[]' "$layout/blobs/${digest%%:*}/${digest#*:}"
    else
      echo "$descriptor"
    fi
  done
}

found=$(descriptors | jq -r --arg os "$os" --arg arch "$arch" \
  'select(.platform.os == $os and .platform.architecture == $arch) | .digest')
count=$(grep -c . <<<"$found" || true)
if [[ $count -ne 1 ]]; then
  echo "expected one $os/$arch image in $layout, found $count" >&2
  exit 1
fi
echo "$found"
