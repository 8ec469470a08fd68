#!/usr/bin/env bash
# Lints docs/api/openapi.yaml with Redocly CLI (pinned in tools/openapi/package-lock.json; npm ci
# installs exactly that into tools/openapi/node_modules). Every problem, warnings included, fails.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=tools/openapi
command -v npm >/dev/null || { echo "lint-openapi: needs Node.js 20.19+ and npm (the machine's)" >&2; exit 2; }
if [ ! -x "$tools/node_modules/.bin/redocly" ] || [ "$tools/package-lock.json" -nt "$tools/node_modules/.package-lock.json" ]; then
  (cd "$tools" && npm ci --no-audit --no-fund --loglevel=error)
fi
# REDOCLY_TELEMETRY=off: the lint sends nothing anywhere.
REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
  "$tools/node_modules/.bin/redocly" lint --config "$tools/redocly.yaml" --format=stylish docs/api/openapi.yaml
