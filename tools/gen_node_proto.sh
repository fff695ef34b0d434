#!/usr/bin/env bash
# Generate the Node SDK's code for proto/ (protoc-gen-es through buf), or check it is current.
#   bash tools/gen_node_proto.sh          # write clients/node/src/gen
#   bash tools/gen_node_proto.sh --check  # exit 1 when the committed code differs from proto/
set -euo pipefail
cd "$(dirname "$0")/.."
BUF=clients/node/node_modules/.bin/buf
if [ "${1:-}" = "--check" ]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
  "$BUF" generate --template clients/node/buf.gen.yaml -o "$out"
  if ! diff -ru clients/node/src/gen "$out/clients/node/src/gen" >&2; then
    echo "the Node SDK's generated code is stale; run \`make proto\`" >&2
    exit 1
  fi
else
  rm -rf clients/node/src/gen
  "$BUF" generate --template clients/node/buf.gen.yaml
fi
