#!/usr/bin/env bash
# HTTP figures of evstored with wrk (Debian package `wrk`), on loopback:
# single-event appends per request with keep-alive (1 and 16 connections),
# and reads of 10-event pages. Starts its own evstored on a temp directory.
# Besides wrk's figures, prints the CPU time evstored used per request (all
# its threads, user + system, from /proc): less sensitive to other load on
# the machine than requests/s, and what a change to the server's path moves.
#
#   bench/http-bench.sh [--fsync] [--threads N] [--seconds N] [--server PATH]
#                       [--base PATH [--rounds N]]
# --server: the evstored to measure (default build/tools/evstored), e.g. an
# older commit's build, to compare two servers side by side.
# --base: compare in one run: each of --rounds rounds (default 2) measures
# the base server then --server, each scenario on a fresh store, so both see
# the same load on a shared machine; every row names its server.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=5
server=build/tools/evstored
base=
rounds=2
extra=()
while (($#)); do
  case "$1" in
    --fsync) extra+=(--fsync) ;;
    --threads) extra+=(--threads "$2"); shift ;;
    --seconds) seconds="$2"; shift ;;
    --server) server="$2"; shift ;;
    --base) base="$2"; shift ;;
    --rounds) rounds="$2"; shift ;;
    *) echo "usage: $0 [--fsync] [--threads N] [--seconds N] [--server PATH] [--base PATH [--rounds N]]" >&2; exit 2 ;;
  esac
  shift
done
command -v wrk >/dev/null || { echo "http-bench: wrk not found (apt-get install wrk)" >&2; exit 1; }
for s in "$server" ${base:+"$base"}; do
  [[ -x "$s" ]] || { echo "http-bench: $s not found: build first (tools/setup.sh build)" >&2; exit 1; }
done

dir="$(mktemp -d /tmp/evstored-bench.XXXXXX)"
pid=
stop_server() {
  if [[ -n "$pid" ]]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  pid=
}
trap 'stop_server; rm -rf "$dir"' EXIT

cat >"$dir/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body   = '{"type":"OrderPlaced","data":{"order":"o-1","customer":"c-42","total":129.5,"items":[{"sku":"book-1","qty":1},{"sku":"pen-7","qty":3}]}}'
wrk.headers["Content-Type"] = "application/json"
LUA

start_server() {  # path: starts it on a fresh store, sets pid and url
  rm -rf "$dir/data"
  local out="$dir/stdout"
  : >"$out"
  "$1" --data "$dir/data" --listen 127.0.0.1:0 "${extra[@]}" >"$out" 2>/dev/null &
  pid=$!
  for _ in $(seq 50); do grep -q 'serving' "$out" 2>/dev/null && break; sleep 0.1; done
  url="http://127.0.0.1:$(grep -o '127.0.0.1:[0-9]*' "$out" | head -1 | cut -d: -f2)"
}

# CPU time evstored has used (all threads, user + system), in clock ticks.
server_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
# Context switches of all evstored's threads so far: each is a sleep and a
# wake-up, the kernel cost that dominates a small request on few cores.
server_switches() { cat /proc/"$pid"/task/*/status | awk '/ctxt_switches/{n += $2} END{print n}'; }
ticks_per_s=$(getconf CLK_TCK)

run() {  # label, wrk args...
  local label="$1"; shift
  local res t0 t1 s0 s1 requests
  t0=$(server_ticks)
  s0=$(server_switches)
  res="$(wrk "$@")"
  t1=$(server_ticks)
  s1=$(server_switches)
  requests=$(awk '/requests in/{print $1}' <<<"$res")
  printf '| %s | %s | %s | %s | %s |\n' "$label" "$(awk '/Requests\/sec/{print $2}' <<<"$res")" \
    "$(awk '/Latency/{print $2" avg, "$4" max"}' <<<"$res")" \
    "$(awk -v t=$((t1 - t0)) -v hz="$ticks_per_s" -v n="$requests" 'BEGIN{printf "%.1f", (n > 0 ? t / hz * 1e6 / n : 0)}')" \
    "$(awk -v s=$((s1 - s0)) -v n="$requests" 'BEGIN{printf "%.2f", (n > 0 ? s / n : 0)}')"
}

scenarios() {  # server path, label prefix
  start_server "$1"
  run "${2}append, 1 connection" -t1 -c1 -d"${seconds}s" -s "$dir/post.lua" "$url/streams/orders"
  run "${2}append, 16 connections" -t2 -c16 -d"${seconds}s" -s "$dir/post.lua" "$url/streams/orders"
  run "${2}read 10 events, 16 connections" -t2 -c16 -d"${seconds}s" "$url/streams/orders?limit=10"
  stop_server
}

[[ -z "$base" ]] || echo "base: $base, new: $server ($rounds rounds, alternating)"
echo "| scenario (${seconds}s each, ${extra[*]:-buffered}) | requests/s | latency | server CPU µs/request | server context switches/request |"
echo "|---|---:|---|---:|---:|"
if [[ -z "$base" ]]; then
  scenarios "$server" ""
else
  for r in $(seq "$rounds"); do
    scenarios "$base" "round $r, base: "
    scenarios "$server" "round $r, new: "
  done
fi
