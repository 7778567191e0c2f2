#!/usr/bin/env bash
# Builds the two Workers from worker/ (src/lib.rs): the full build, the Worker `keyward`
# (wrangler.toml), into worker/build/, and the edge build, the Worker `keyward-edge`
# (wrangler.edge.toml, the one the public reaches), into worker/build-edge/. Each is
# worker-build (cargo + wasm-bindgen + esbuild shim) with the pinned tools
# scripts/setup.sh installs (worker-build would otherwise download wasm-bindgen and
# wasm-opt, which fails offline), then wasm-opt for size, then its size budget.
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

# build NAME OUT_DIR BUDGET_FILE [cargo options]: one build, optimised and checked.
build() {
  local name="$1" out="$2" budget_file="$3"
  shift 3
  (cd "$root/worker" && worker-build --release --out-dir "$out" "$@")
  local wasm="$root/worker/$out/index_bg.wasm"
  # The feature set workerd supports (the one worker-build passes, listed once in
  # scripts/wasm-opt-features), without --debuginfo.
  # shellcheck disable=SC2046
  "$WASM_OPT_BIN" "$wasm" -o "$wasm.opt" -Oz --strip-debug --strip-producers \
    $(cat "$root/scripts/wasm-opt-features")
  mv "$wasm.opt" "$wasm"
  local gzipped budget
  gzipped="$(gzip -9 -c "$wasm" | wc -c)"
  printf '%s wasm: %s bytes, %s gzipped\n' "$name" "$(wc -c < "$wasm")" "$gzipped" >&2
  # The size budgets (README, Benchmarks): the build, and so `make test`, fails past one.
  budget="$(cat "$root/scripts/$budget_file")"
  if [ "$gzipped" -gt "$budget" ]; then
    printf '%s wasm: %s bytes gzipped is over its budget of %s (scripts/%s)\n' \
      "$name" "$gzipped" "$budget" "$budget_file" >&2
    exit 1
  fi
}

build keyward build worker-size-budget
build keyward-edge build-edge edge-size-budget --no-default-features
