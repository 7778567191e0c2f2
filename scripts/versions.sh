#!/bin/sh
# The pinned version of a build tool, read from the one place it is decided: Cargo.lock.
#   scripts/versions.sh wasm-bindgen   # the wasm-bindgen CLI must match the crate exactly
#   scripts/versions.sh worker-build   # released in lockstep with the `worker` crate
set -eu
lock="$(dirname "$0")/../Cargo.lock"
locked() { awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' "$lock"; }
case "${1:-}" in
  wasm-bindgen) locked wasm-bindgen ;;
  worker-build) locked worker ;;
  *) echo "usage: $0 wasm-bindgen|worker-build" >&2; exit 2 ;;
esac
