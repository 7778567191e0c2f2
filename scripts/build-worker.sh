#!/usr/bin/env bash
# Builds the Worker into worker/build/: worker-build (cargo + wasm-bindgen + esbuild shim)
# with the pinned tools scripts/setup.sh installs (worker-build would otherwise download
# wasm-bindgen and wasm-opt, which fails offline), then wasm-opt for size.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-${CARGO_HOME:-$HOME/.cargo}/bin/wasm-bindgen}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$root/node_modules/.bin/wasm-opt}"
export ESBUILD_BIN="${ESBUILD_BIN:-$root/node_modules/.bin/esbuild}"
# The dashboard's assets first: wrangler reads them beside the Worker.
"$root/scripts/build-dashboard.sh"
# The OpenAPI document is a static asset too, read by the Worker through ASSETS (not in the
# wasm); at a path the Worker never hands to the assets for a request (worker/src/endpoints/openapi.rs).
mkdir -p "$root/dashboard/dist/openapi"
cp "$root/worker/openapi.json" "$root/dashboard/dist/openapi/openapi.json"
cd "$root/worker"
worker-build --release
wasm="$root/worker/build/index_bg.wasm"
# The feature set workerd supports (the one worker-build passes, listed once in
# scripts/wasm-opt-features), without --debuginfo.
# shellcheck disable=SC2046
"$WASM_OPT_BIN" "$wasm" -o "$wasm.opt" -Oz --strip-debug --strip-producers \
  $(cat "$root/scripts/wasm-opt-features")
mv "$wasm.opt" "$wasm"
gzipped="$(gzip -9 -c "$wasm" | wc -c)"
printf 'worker wasm: %s bytes, %s gzipped\n' "$(wc -c < "$wasm")" "$gzipped" >&2
# The size budget (README, Benchmarks): the build, and so `make test`, fails past it.
budget="$(cat "$root/scripts/worker-size-budget")"
if [ "$gzipped" -gt "$budget" ]; then
  printf 'worker wasm: %s bytes gzipped is over its budget of %s (scripts/worker-size-budget)\n' \
    "$gzipped" "$budget" >&2
  exit 1
fi
