#!/usr/bin/env bash
# Builds the operator's dashboard (dashboard/src: Preact + uPlot) into dashboard/dist/_keyward/,
# the Worker's static assets (wrangler.toml [assets]), with the esbuild that comes with
# wrangler: one script, one stylesheet, no source from anywhere but node_modules.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
esbuild="${ESBUILD_BIN:-$root/node_modules/.bin/esbuild}"
src="$root/dashboard/src"
out="$root/dashboard/dist/_keyward"
rm -rf "$root/dashboard/dist"
mkdir -p "$out"
"$esbuild" "$src/main.jsx" --bundle --minify --format=esm --target=es2022 \
  --jsx=automatic --jsx-import-source=preact --legal-comments=none \
  --outfile="$out/app.js" --log-level=warning
"$esbuild" "$src/app.css" --bundle --minify --outfile="$out/app.css" --log-level=warning
cp "$src/index.html" "$out/index.html"
printf 'dashboard: %s bytes of script, %s of style\n' "$(wc -c < "$out/app.js")" "$(wc -c < "$out/app.css")" >&2
