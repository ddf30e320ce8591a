#!/usr/bin/env bash
# HTTP figures of evstored with wrk (Debian package `wrk`), on loopback:
# single-event appends per request with keep-alive (1 and 16 connections),
# and reads of 10-event pages. Starts its own evstored on a temp directory.
#
#   bench/http-bench.sh [--fsync] [--threads N] [--seconds N]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=5
extra=()
while (($#)); do
  case "$1" in
    --fsync) extra+=(--fsync) ;;
    --threads) extra+=(--threads "$2"); shift ;;
    --seconds) seconds="$2"; shift ;;
    *) echo "usage: $0 [--fsync] [--threads N] [--seconds N]" >&2; exit 2 ;;
  esac
  shift
done
command -v wrk >/dev/null || { echo "http-bench: wrk not found (apt-get install wrk)" >&2; exit 1; }
[[ -x build/tools/evstored ]] || { echo "http-bench: build first (tools/setup.sh build)" >&2; exit 1; }

dir="$(mktemp -d /tmp/evstored-bench.XXXXXX)"
out="$dir/stdout"
build/tools/evstored --data "$dir/data" --listen 127.0.0.1:0 "${extra[@]}" >"$out" 2>/dev/null &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do grep -q 'serving' "$out" 2>/dev/null && break; sleep 0.1; done
port="$(grep -o '127.0.0.1:[0-9]*' "$out" | head -1 | cut -d: -f2)"
url="http://127.0.0.1:$port"

cat >"$dir/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body   = '{"type":"OrderPlaced","data":{"order":"o-1","customer":"c-42","total":129.5,"items":[{"sku":"book-1","qty":1},{"sku":"pen-7","qty":3}]}}'
wrk.headers["Content-Type"] = "application/json"
LUA

run() {  # label, wrk args...
  local label="$1"; shift
  local res
  res="$(wrk "$@")"
  printf '| %s | %s | %s |\n' "$label" "$(awk '/Requests\/sec/{print $2}' <<<"$res")" \
    "$(awk '/Latency/{print $2" avg, "$4" max"}' <<<"$res")"
}
echo "| scenario (${seconds}s each, ${extra[*]:-buffered}) | requests/s | latency |"
echo "|---|---:|---|"
run "append, 1 connection" -t1 -c1 -d"${seconds}s" -s "$dir/post.lua" "$url/streams/orders"
run "append, 16 connections" -t2 -c16 -d"${seconds}s" -s "$dir/post.lua" "$url/streams/orders"
run "read 10 events, 16 connections" -t2 -c16 -d"${seconds}s" "$url/streams/orders?limit=10"
