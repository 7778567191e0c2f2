# keyward: `make dev` runs it locally, `make test` runs every test. Both set up what they need.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export CARGO_TERM_COLOR ?= never
export WRANGLER_SEND_METRICS := false
export CLOUDFLARE_CF_FETCH_ENABLED := false

.PHONY: dev test setup lint test-rust check-wasm build-worker test-e2e test-browser bench bench-core bench-worker bench-scan fuzz fuzz-api test-npm bench-npm

WRANGLER := $(CURDIR)/node_modules/.bin/wrangler

## make dev: set up, then run keyward locally.
# .dev.vars is made once by `keyward init` (the root key is printed once, only its hash
# kept); state persists in .wrangler/state between runs.
dev: setup
	@test -f .dev.vars || cargo run -q -p keyward-cli -- init
	scripts/build-dashboard.sh
	@echo "keyward: the dashboard will be at http://127.0.0.1:8787/_keyward/ (sign in with the root key printed by keyward init)"
	CI=true $(WRANGLER) d1 migrations apply AUDIT_DB --local
	$(WRANGLER) dev -c wrangler.edge.toml -c wrangler.toml --ip 127.0.0.1 --port 8787 --test-scheduled

## make test: every check CI runs, in the order that fails fastest.
test: setup lint test-rust check-wasm test-e2e test-browser test-npm fuzz-api

setup:
	@scripts/setup.sh

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	# The edge Worker's build (keyward-edge) is the same crate without its `control` feature.
	cargo clippy -p keyward-worker --no-default-features --all-targets --locked -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked
	# The JavaScript type-checked (npm/lib, dashboard/src, tests/: tsconfig.json), about 25 s.
	node_modules/.bin/tsc -p tsconfig.json
	# Dogfood: the repository itself holds no key (published vectors are in .keywardignore).
	cargo run -q -p keyward-cli --locked -- scan .

test-rust:
	cargo test --workspace --locked

# The core must build for the Worker and the npm package's target.
check-wasm:
	cargo build -p keyward-core --target wasm32-unknown-unknown --locked

build-worker:
	scripts/build-worker.sh

# End-to-end: the real Worker under wrangler dev, driven over HTTP.
test-e2e: build-worker
	node --test --test-concurrency=1 tests/e2e/

# The dashboard in real Chromium (Debian's, driven by playwright-core) against wrangler dev
# with fresh state: flows, hostile data, CSP, axe-core, the keyboard; screenshots in
# target/screenshots/ (KEYWARD_UPDATE_SCREENSHOTS=1 also refreshes docs/screenshots/).
test-browser: build-worker
	node --test --test-concurrency=1 tests/browser/

# The API fuzzer: Schemathesis reads the Worker's OpenAPI document and attacks every
# operation (all checks, the stateful phase) with the root key and a limited key, against
# wrangler dev with fresh state; JUnit reports in target/fuzz-api/. KEYWARD_FUZZ_EXAMPLES
# (default 100) and KEYWARD_FUZZ_SEED (default 1) size and vary it.
fuzz-api: build-worker
	node tests/fuzz/api.mjs

# The npm package (npm/): build the WASM into npm/pkg, then its node tests: vectors, Express
# over HTTP, remoteStore against wrangler dev, typings (tsc), npm pack + offline install.
test-npm: build-worker
	cd npm && npm run build && KEYWARD_REQUIRE_WORKER=1 npm test

## make bench: every benchmark, each against its baseline in the same run.
bench: bench-core bench-scan bench-worker bench-npm

# Loopback load on the Worker's own socket under wrangler dev: /healthz against /v1/verify
# (default bound, bound 0, counted keys), plus the wasm size; then one hot counted key.
bench-worker: build-worker
	node tests/bench/worker-load.mjs 5
	node tests/bench/hot-key.mjs 5

# npm: WASM verify against the same path in JS (createHash and crypto.hash), with goals;
# Express with and without apiKeyAuth under autocannon on loopback. Each run prints the
# previous run's figures beside its own (kept in .bench/npm.json, git-ignored).
bench-npm:
	cd npm && npm run build && npm run bench

bench-core:
	cargo bench -p keyward-core --bench verify
	cargo bench -p keyward-core --bench ratio

# keyward scan against ripgrep on a generated 200 MiB tree (rg and hyperfine: scripts/setup.sh).
bench-scan:
	crates/keyward-cli/bench/scan.sh

## make fuzz: fuzz the key parser for 60 s (nightly toolchain, cargo-fuzz).
fuzz:
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
	cd fuzz && cargo +nightly fuzz run parse_key -- -max_total_time=60
