#!/usr/bin/env bash
# Install the one-map's front-end libraries from npm (web/package-lock.json, `npm ci`) and copy the
# files the page loads into web/static/vendor, which FastAPI serves at /static/vendor. Nothing is
# fetched from the internet when the page runs. Idempotent: `make` reruns it only when the lock
# file or this script changes.
set -euo pipefail
cd "$(dirname "$0")/../web"
command -v npm >/dev/null || { echo "npm is missing: run scripts/install-system.sh" >&2; exit 1; }
npm ci --no-audit --no-fund --loglevel=error
vendor=static/vendor
rm -rf "$vendor"
mkdir -p "$vendor"
ml=node_modules/maplibre-gl/dist
# MapLibre GL JS is ES modules: the main module finds its worker beside itself.
cp "$ml/maplibre-gl.mjs" "$ml/maplibre-gl-worker.mjs" "$ml/maplibre-gl.css" "$vendor/"
cp node_modules/chart.js/dist/chart.umd.min.js "$vendor/"
cp node_modules/maplibre-gl/LICENSE.txt "$vendor/maplibre-gl.LICENSE.txt"
cp node_modules/chart.js/LICENSE.md "$vendor/chart.js.LICENSE.md"
touch "$vendor/.installed"
echo "web assets installed in web/$vendor"
