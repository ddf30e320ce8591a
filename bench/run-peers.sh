#!/usr/bin/env bash
# Runs evstore_bench and the peer event stores (bench/peers) one after the
# other on this machine and prints one Markdown table with evstore/peer ratios.
# Writes bench/results/latest.json and bench/results/latest.md.
#
#   bench/run-peers.sh [--quick] [--dir=/tmp] [--k-streams=N]
# --k-streams: streams of scenario k (evstore_bench's default: 1,000,000).
# Environment: BUILD_DIR (default <repo>/build, configured with EVSTORE_BUILD_BENCH=ON).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
build=${BUILD_DIR:-$repo/build}
results=$here/results
quick=()
bench_args=()
dir=/tmp
for arg in "$@"; do
  case $arg in
    --quick) quick=(--quick) ;;
    --dir=*) dir=${arg#--dir=} ;;
    --k-streams=*) bench_args+=("$arg") ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "run-peers.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done
mkdir -p "$results" "$dir"

command -v node >/dev/null || { echo "run-peers.sh: node is required (v18+)" >&2; exit 1; }
command -v npm >/dev/null || { echo "run-peers.sh: npm is required" >&2; exit 1; }

echo "== building evstore_bench in $build" >&2
cmake --build "$build" --target evstore_bench >&2

echo "== installing the peers (npm ci in bench/peers)" >&2
(cd "$here/peers" && npm ci --no-audit --no-fund --loglevel=error >&2)

# CPU busy over one second, from /proc/stat (user+nice+system+irq+softirq+steal).
busy=$( { head -1 /proc/stat; sleep 1; head -1 /proc/stat; } | awk '
  { b = $2 + $3 + $4 + $7 + $8 + $9; t = b + $5 + $6; if (NR == 1) { b0 = b; t0 = t } else print int(100 * (b - b0) / (t - t0)) }')
if [ "${busy:-0}" -gt 15 ]; then
  echo "run-peers.sh: warning: the CPUs are ${busy}% busy before the run; other work skews the figures" >&2
fi

# One at a time: the machine has 2 cores and the figures must not disturb each other.
echo "== evstore_bench ${quick[*]}" >&2
"$build/bench/evstore_bench" "${quick[@]}" "${bench_args[@]}" --dir="$dir" --json="$results/evstore.json" >"$results/evstore.md"
echo "== peers ${quick[*]}" >&2
node "$here/peers/peers.mjs" "${quick[@]}" --dir="$dir" >"$results/peers.jsonl"

node "$here/peers/combine.mjs" --evstore="$results/evstore.json" --peers="$results/peers.jsonl" \
  --evstore-md="$results/evstore.md" --out="$results/latest"
echo >&2
echo "results: $results/latest.md, $results/latest.json" >&2
