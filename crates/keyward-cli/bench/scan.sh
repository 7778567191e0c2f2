#!/usr/bin/env bash
# make bench-scan: `keyward scan` against ripgrep on the same tree, same pattern, one run.
#
# Generates (once) a 200 MiB source-like tree with 5 planted keys under /tmp, then times
#   keyward scan TREE                      (finds candidates, verifies each CRC32)
#   rg --hidden -n --column -o REGEX TREE  (the same key shape as .gitleaks.toml's rule)
#   rg --hidden -F -n --column sk_live_    (a literal: ripgrep's fast path, for reference)
# with hyperfine, and prints each one's throughput. Goal: keyward >= 0.5x ripgrep (REGEX).
set -euo pipefail
cd "$(dirname "$0")/../../.."

TREE=${KEYWARD_BENCH_TREE:-/tmp/keyward-bench-tree}
MIB=${KEYWARD_BENCH_MIB:-200}
RUNS=${KEYWARD_BENCH_RUNS:-10}
PATTERN='[a-z][a-z0-9]{0,15}_[a-z][a-z0-9]{0,15}_[A-Za-z0-9_-]{49}'

for tool in rg hyperfine python3; do
  command -v "$tool" >/dev/null || { echo "bench-scan: $tool is missing; run scripts/setup.sh" >&2; exit 2; }
done

# Built with the bench profile (opt-level 3); the release profile is tuned for Worker size.
cargo build --profile bench -p keyward-cli --locked
BIN=$PWD/target/release/keyward

if [ ! -f "$TREE/.complete-$MIB" ]; then
  rm -rf "$TREE"
  python3 crates/keyward-cli/bench/gen_tree.py "$TREE" "$MIB" 5
  touch "$TREE/.complete-$MIB"
fi
BYTES=$(find "$TREE" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
FILES=$(find "$TREE" -type f | wc -l)

FOUND=$("$BIN" scan "$TREE" 2>/dev/null | wc -l || true)
echo "tree: $TREE, $FILES files, $((BYTES / 1048576)) MiB; keyward finds $FOUND keys; $(nproc) cores; $(rg --version | head -1)"

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
hyperfine --style basic -N -i --warmup 2 --runs "$RUNS" --export-json "$OUT/r.json" \
  -n "keyward scan" "$BIN scan $TREE" \
  -n "rg (same pattern)" "rg --hidden -n --column -o $PATTERN $TREE" \
  -n "rg -F sk_live_ (literal)" "rg --hidden -F -n --column sk_live_ $TREE" >&2

python3 - "$OUT/r.json" "$BYTES" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
size = int(sys.argv[2]) / 1048576
rate = {r["command"]: size / r["mean"] for r in results}
print(f"\n| command | mean time | throughput |\n|---|---|---|")
for r in results:
    print(f"| {r['command']} | {r['mean'] * 1000:.0f} ms ± {r['stddev'] * 1000:.0f} | {size / r['mean']:.0f} MiB/s |")
ratio = rate["keyward scan"] / rate["rg (same pattern)"]
print(f"\nkeyward / rg (same pattern): {ratio:.2f}x (goal >= 0.5x: {'met' if ratio >= 0.5 else 'NOT met'})")
PY
