# keyward: `make dev` runs it locally, `make test` runs every test. Both set up what they need.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export CARGO_TERM_COLOR ?= never
export WRANGLER_SEND_METRICS := false
export CLOUDFLARE_CF_FETCH_ENABLED := false

.PHONY: dev test setup lint test-rust check-wasm bench bench-core fuzz

## make dev: set up, then run keyward locally.
dev: setup
	cargo build -p keyward-core
	@echo "keyward-core builds. The Worker (wrangler dev on 127.0.0.1:8787) is not here yet."

## make test: every check CI runs, in the order that fails fastest.
test: setup lint test-rust check-wasm

setup:
	@scripts/setup.sh

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

test-rust:
	cargo test --workspace --locked

# The core must build for the Worker and the npm package's target.
check-wasm:
	cargo build -p keyward-core --target wasm32-unknown-unknown --locked

## make bench: every benchmark, each against its baseline in the same run.
bench: bench-core

bench-core:
	cargo bench -p keyward-core --bench verify

## make fuzz: fuzz the key parser for 60 s (nightly toolchain, cargo-fuzz).
fuzz:
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
	cd fuzz && cargo +nightly fuzz run parse_key -- -max_total_time=60
