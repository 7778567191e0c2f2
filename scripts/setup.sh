#!/usr/bin/env bash
# Installs everything keyward's build, dev server and tests need, idempotently.
# Tools land in ~/.cargo/bin (Rust) and ./node_modules (npm), pinned to exact versions.
set -euo pipefail
cd "$(dirname "$0")/.."

# Both versions come from Cargo.lock (scripts/versions.sh), so they move with the crates.
WORKER_BUILD_VERSION=$(scripts/versions.sh worker-build)
WASM_BINDGEN_VERSION=$(scripts/versions.sh wasm-bindgen)

say() { printf '\033[1msetup:\033[0m %s\n' "$*" >&2; }

# The toolchain rust-toolchain.toml pins. When the machine's stable is that very release,
# link it under the pinned name (no download); otherwise ask rustup for it.
PINNED=$(sed -n 's/^channel = "\(.*\)"$/\1/p' rust-toolchain.toml)
if ! rustup toolchain list | grep -q "^$PINNED-"; then
  stable=$(RUSTUP_TOOLCHAIN=stable rustc --version 2>/dev/null | awk '{print $2}')
  if [ "$stable" = "$PINNED" ]; then
    say "the installed stable toolchain is $PINNED: naming it so"
    host=$(RUSTUP_TOOLCHAIN=stable rustc -vV | sed -n 's/^host: //p')
    toolchains="${RUSTUP_HOME:-$HOME/.rustup}/toolchains"
    ln -s "$toolchains/stable-$host" "$toolchains/$PINNED-$host"
  else
    say "installing Rust $PINNED"
    rustup toolchain install "$PINNED" --profile minimal -c clippy,rustfmt -t wasm32-unknown-unknown
  fi
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding Rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

if ! command -v worker-build >/dev/null || ! worker-build --version 2>/dev/null | grep -q "$WORKER_BUILD_VERSION"; then
  say "installing worker-build $WORKER_BUILD_VERSION (a few minutes, once)"
  cargo install worker-build --version "=$WORKER_BUILD_VERSION"
fi

if [ -n "$WASM_BINDGEN_VERSION" ] && ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION\$"; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
  cargo install wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION" --force
fi

if [ -f package-lock.json ] && { [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; }; then
  say "installing npm dev tools (wrangler, binaryen, autocannon)"
  npm ci --no-audit --no-fund
fi

# The npm package's own dev tools (express, typescript, @types, autocannon) for its tests.
if [ -f npm/package-lock.json ] && { [ ! -d npm/node_modules ] || [ npm/package-lock.json -nt npm/node_modules/.package-lock.json ]; }; then
  say "installing the npm package's dev dependencies (npm/)"
  (cd npm && npm ci --no-audit --no-fund)
fi

# The dashboard's libraries (Preact, uPlot), bundled by scripts/build-dashboard.sh.
if [ -f dashboard/package-lock.json ] && { [ ! -d dashboard/node_modules ] || [ dashboard/package-lock.json -nt dashboard/node_modules/.package-lock.json ]; }; then
  say "installing the dashboard's libraries (dashboard/)"
  (cd dashboard && npm ci --no-audit --no-fund)
fi

# Debian tools: git (the CLI's scanner tests drive real repositories; required), ripgrep
# and hyperfine (only make bench-scan compares keyward scan with rg: a failed install of
# these is a warning, not a failed setup).
apt_install() {
  command -v apt-get >/dev/null || return 1
  local sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  say "installing $* (apt-get)"
  { "${sudo_cmd[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "$@"; } >&2
}
if ! command -v git >/dev/null; then
  apt_install git || { say "git is required: please install it"; exit 1; }
fi
# Python tools in .venv (git-ignored), pinned in tests/fuzz/requirements.txt: Schemathesis,
# the API fuzzer, and openapi-spec-validator. Reinstalled when the requirements change.
REQS=tests/fuzz/requirements.txt
if [ ! -x .venv/bin/st ] || [ "$REQS" -nt .venv/.installed ]; then
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    apt_install python3-venv || { say "python3 with venv is required: please install it"; exit 1; }
  fi
  say "installing the API fuzzer (schemathesis) and the OpenAPI validator into .venv"
  [ -x .venv/bin/pip ] || python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r "$REQS"
  touch .venv/.installed
fi

# ps and ss: the end-to-end harness finds the Worker's own socket behind wrangler's dev
# proxy with them (tests/e2e/harness.mjs, directUrl).
tools=()
command -v ps >/dev/null || tools+=(procps)
command -v ss >/dev/null || tools+=(iproute2)
if [ ${#tools[@]} -gt 0 ]; then
  apt_install "${tools[@]}" || { say "${tools[*]} are required by the end-to-end tests: please install them"; exit 1; }
fi

# Chromium for the dashboard's browser tests (tests/browser, driven by playwright-core:
# Playwright's own browser download is not used), and a font for its screenshots.
if ! command -v chromium >/dev/null; then
  apt_install chromium fonts-dejavu-core || { say "chromium is required for the browser tests: please install it"; exit 1; }
fi

bench_debs=()
command -v rg >/dev/null || bench_debs+=(ripgrep)
command -v hyperfine >/dev/null || bench_debs+=(hyperfine)
if [ ${#bench_debs[@]} -gt 0 ]; then
  apt_install "${bench_debs[@]}" || say "warning: could not install ${bench_debs[*]}; make bench-scan needs them"
fi
