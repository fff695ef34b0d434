#!/usr/bin/env bash
# The contract's guard: `buf lint` (STANDARD rules, exceptions in buf.yaml) and `buf breaking`
# against the last release tag (v*), or, before the first release, the commit that created
# proto/; on a branch, also against its merge base with main. buf comes from npm (clients/node).
set -euo pipefail
cd "$(dirname "$0")/.."
BUF=clients/node/node_modules/.bin/buf
"$BUF" lint
base=$(git tag -l 'v*' --sort=-v:refname | head -n1)
[ -n "$base" ] || base=$(git log --diff-filter=A --format=%H -- proto/broker/v1/job_service.proto | tail -n1)
if [ -z "$base" ]; then
  echo "buf breaking: no baseline found (a shallow clone? fetch the history)" >&2
  exit 1
fi
bases=("$base")
merge_base=$(git merge-base HEAD main 2>/dev/null || true)
if [ -n "$merge_base" ] && [ "$merge_base" != "$(git rev-parse HEAD)" ] && [ "$merge_base" != "$(git rev-parse "$base")" ]; then
  bases+=("$merge_base")
fi
for ref in "${bases[@]}"; do
  against=$(mktemp -d)
  git archive "$ref" proto | tar -x -C "$against"
  "$BUF" breaking --against "$against/proto" || { echo "buf breaking: proto/ breaks the contract of $ref" >&2; rm -rf "$against"; exit 1; }
  rm -rf "$against"
  echo "buf breaking: compatible with $(git rev-parse --short "$ref")"
done
