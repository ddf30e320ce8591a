#!/usr/bin/env bash
# Installs the build dependencies (Debian 12 packages), configures, builds and tests evstore.
#
#   tools/setup.sh [build] [cmake args...]  deps + configure/build in build/ (the default)
#   tools/setup.sh deps                     install missing Debian packages only (without the
#                                           test-only ones: chromium for the console tests)
#   tools/setup.sh test [cmake args...]     deps + build with -DEVSTORE_WERROR=ON + ctest;
#                                           last line: "N passed, N failed"
#   tools/setup.sh lint                     deps + clang-format --dry-run -Werror over every C++
#                                           file ("clang-format: files N, deviations 0"), then
#                                           clang-tidy (.clang-tidy) over the product sources
#                                           (engine/, net/, http/, tools/) with
#                                           build/compile_commands.json (configures build/ if it
#                                           has none): "clang-tidy: files N, findings N".
#                                           Not part of `test` (minutes on 2 cores); .ci/run
#                                           runs lint, then test. Fix the format with
#                                           clang-format-14 -i FILES
#   tools/setup.sh asan [cmake args...]     deps + ASan/UBSan Debug build in build-asan/ + ctest
#   tools/setup.sh run [cmake args...]      deps + build, then evstored on ./data (console URL printed)
#   tools/setup.sh fuzz [seconds]           deps + clang libFuzzer build in build-fuzz/, each target
#                                           run for `seconds` (60); see tests/fuzz/README.md
#   tools/setup.sh sim [minutes] [args...]  deps + the deterministic simulation (tests/sim) run on
#                                           fresh seeds for `minutes` (10); args go to evstore_sim
#                                           (e.g. --no-backup). Last line: "seeds N, simulated ops
#                                           N, crashes N, faults N, violations N"
#   tools/setup.sh scavenge-sim [seeds]     deps + build + the seeded simulation of deletes, limits,
#                                           scavenges and crashes (tests/scavenge_sim_test.cpp) over
#                                           `seeds` fresh seeds (500); last line "seeds N: passed"
#   tools/setup.sh tsan [cmake args...]     deps + ThreadSanitizer build in build-tsan/ (engine, server,
#                                           tests), runs the tests that use threads; last line:
#                                           "tests N, races N" (reports in build-tsan/tsan-logs/)
#   tools/setup.sh bench [args...]          deps + build + bench/run-peers.sh (evstore and its peers
#                                           side by side; args pass through, e.g. --quick or
#                                           --k-streams=100000), then the charts of
#                                           docs/performance.md (docs/images/*.png) from its results
#   tools/setup.sh mutate [args...]         deps + mutation run (tools/mutate.sh --help): each mutant
#                                           of tools/mutants.tsv built in build-mutate/ and its
#                                           targeted tests run; last line "mutants N, killed K (P%)"
#
# Idempotent: apt-get runs only when a package is missing, and then `apt-get update` runs once.
set -euo pipefail

cd "$(dirname "$0")/.."

export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"

packages=(
  build-essential cmake ninja-build pkg-config git
  libboost1.81-dev libboost-json1.81-dev libboost-program-options1.81-dev libboost-url1.81-dev
  libssl-dev libgtest-dev libgmock-dev googletest libbenchmark-dev libxxhash-dev
  curl ca-certificates python3 python3-websockets
)
# Only the test runs need these: the console tests load the page in a real browser.
test_packages=(chromium)
# Only `fuzz` needs these: clang with its libFuzzer runtime.
fuzz_packages=(clang libclang-rt-dev)
# Only `lint` needs these.
lint_packages=(clang-tidy-14 clang-format-14)
# Only `bench` needs these: PostgreSQL as a peer, gnuplot for the charts, wrk for
# bench/http-bench.sh. (Node.js 18+ and npm, for the other peers, are not installed
# here: bench/run-peers.sh says so if they are missing.)
bench_packages=(postgresql gnuplot-nox wrk)

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'setup.sh: %s\n' "$*" >&2; exit 1; }

usage() {
  # The comment block at the top of this file.
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

install_deps() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    log "dpkg-query not found (not a Debian system?): skipping package installation"
    return 0
  fi
  local missing=() pkg status
  for pkg in "${packages[@]}"; do
    status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
    if [[ "$status" != "install ok installed" ]]; then
      missing+=("$pkg")
    fi
  done
  if ((${#missing[@]} == 0)); then
    log "all ${#packages[@]} Debian packages present"
    return 0
  fi

  local sudo=()
  if [[ "$(id -u)" -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "not root and sudo not found; install: ${missing[*]}"
    sudo=(sudo)
  fi
  log "installing missing packages: ${missing[*]}"
  "${sudo[@]}" apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
}

# configure_and_build BUILD_DIR [cmake args...]
configure_and_build() {
  local dir="$1"
  shift
  log "configuring $dir"
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
  log "building $dir (parallel level $CMAKE_BUILD_PARALLEL_LEVEL)"
  cmake --build "$dir"
}

# run_ctest BUILD_DIR: runs the tests, prints "N passed, N failed" as the last line,
# returns non-zero if any test failed (or no summary could be found).
run_ctest() {
  local dir="$1" out rc=0
  out="$dir/ctest-output.log"
  log "running tests in $dir"
  ctest --test-dir "$dir" --output-on-failure --no-tests=error -j2 2>&1 | tee "$out" || rc=$?

  # "100% tests passed, 0 tests failed out of 42" (colour codes stripped if any).
  local summary failed total
  summary="$(sed -e 's/\x1b\[[0-9;]*m//g' "$out" |
    grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' | tail -n 1 || true)"
  if [[ -z "$summary" ]]; then
    log "no ctest summary line found (ctest exit code $rc)"
    echo "0 passed, 0 failed"
    return 1
  fi
  failed="$(sed -E 's/^[0-9]+% tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$summary")"
  total="$(sed -E 's/^[0-9]+% tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$summary")"
  echo "$((total - failed)) passed, ${failed} failed"
  if ((failed > 0 || rc != 0)); then
    return 1
  fi
  return 0
}

# lint_sources: the product's C++ sources that clang-tidy checks (their headers through
# .clang-tidy's HeaderFilterRegex); the tests, bench and fuzz targets are not product code.
lint_sources() {
  git ls-files -- 'engine/*.cpp' 'net/*.cpp' 'http/*.cpp' 'tools/*.cpp'
}

# lint_format_files: every C++ file clang-format checks.
lint_format_files() {
  git ls-files -- '*.cpp' '*.hpp' '*.h'
}

# run_lint: clang-format (fast, first), then clang-tidy with build/compile_commands.json
# (configures build/ if it has none). Returns non-zero on any finding.
run_lint() {
  (($# == 0)) || die "lint takes no arguments, got '$1'"
  local files=()
  mapfile -t files < <(lint_format_files)
  log "clang-format --dry-run -Werror over ${#files[@]} files"
  clang-format-14 --dry-run -Werror "${files[@]}" ||
    die "clang-format: the files above deviate from .clang-format (fix: clang-format-14 -i FILES)"
  echo "clang-format: files ${#files[@]}, deviations 0"
  if [[ ! -f build/compile_commands.json ]]; then
    log "configuring build (for compile_commands.json)"
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
  fi
  local sources=()
  mapfile -t sources < <(lint_sources)
  log "clang-tidy over ${#sources[@]} product sources (parallel level $CMAKE_BUILD_PARALLEL_LEVEL)"
  local rc=0 out=build/clang-tidy-output.log
  # run-clang-tidy: one clang-tidy per file, -quiet hides the per-file banners.
  # (It colours its output even into a file: the colour codes are stripped.)
  run-clang-tidy-14 -p build -j "$CMAKE_BUILD_PARALLEL_LEVEL" -quiet -clang-tidy-binary clang-tidy-14 \
    "${sources[@]/#/$PWD/}" 2>&1 | sed -e 's/\x1b\[[0-9;]*m//g' >"$out" || rc=$?
  # A finding in a header shows once per source that includes it: count each place once.
  local findings
  { grep -E '^/.*:[0-9]+:[0-9]+: (warning|error):' "$out" || true; } | sort -u >"$out.findings"
  cat "$out.findings" >&2
  findings="$(wc -l <"$out.findings")"
  echo "clang-tidy: files ${#sources[@]}, findings ${findings}"
  ((rc == 0 && findings == 0)) || die "clang-tidy found problems: $out"
}

cmd="build"
if (($# > 0)); then
  case "$1" in
    -*) ;;  # cmake args for the default `build`
    *) cmd="$1"; shift ;;
  esac
fi

case "$cmd" in
  deps)
    (($# == 0)) || die "deps takes no arguments"
    install_deps
    ;;
  build)
    install_deps
    configure_and_build build "$@"
    ;;
  test)
    packages+=("${test_packages[@]}")
    install_deps
    configure_and_build build -DEVSTORE_WERROR=ON "$@"
    run_ctest build
    ;;
  lint)
    (($# == 0)) || die "lint takes no arguments"
    packages+=("${lint_packages[@]}")
    install_deps
    run_lint "$@"
    ;;
  asan)
    packages+=("${test_packages[@]}")
    install_deps
    export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
    export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
    configure_and_build build-asan -DEVSTORE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DEVSTORE_BUILD_BENCH=OFF "$@"
    run_ctest build-asan
    ;;
  run)
    install_deps
    configure_and_build build "$@"
    log "starting build/tools/evstored on ./data (Ctrl-C stops it cleanly)"
    exec build/tools/evstored --data ./data --listen "${EVSTORED_LISTEN:-127.0.0.1:2113}"
    ;;
  fuzz)
    seconds="${1:-60}"
    [[ "$seconds" =~ ^[0-9]+$ ]] || die "fuzz takes a number of seconds, got '$seconds'"
    packages+=("${fuzz_packages[@]}")
    install_deps
    log "configuring build-fuzz (clang, libFuzzer, ASan + UBSan)"
    cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
      -DCMAKE_CXX_COMPILER=clang++ -DEVSTORE_FUZZ=ON -DEVSTORE_SANITIZE=ON -DEVSTORE_BUILD_BENCH=OFF \
      -DEVSTORE_FUZZ_SECONDS="$seconds"
    # Only the targets (and the CLI that writes the seed store), not the test suite.
    log "building the fuzz targets"
    cmake --build build-fuzz --target evstore fuzz_format fuzz_event_json fuzz_stream_name fuzz_recovery fuzz_filter \
      fuzz_request_target fuzz_http_session fuzz_websocket_message
    log "fuzzing every target for ${seconds}s"
    rc=0
    ctest --test-dir build-fuzz -V -R '^fuzz\.' >build-fuzz/fuzz-output.log 2>&1 || rc=$?
    # One figure per target: libFuzzer's final stats, keyed by ctest's test number.
    awk '
      /^[0-9]+: stat::number_of_executed_units:/ { split($0, a, ":"); execs[a[1]] = $NF + 0 }
      /^[0-9]+: stat::new_units_added:/          { split($0, a, ":"); added[a[1]] = $NF + 0 }
      /Test +#[0-9]+: fuzz\./ {
        line = $0; sub(/.*Test +#/, "", line)
        n = line; sub(/:.*/, "", n)
        name = line; sub(/^[0-9]+: fuzz\./, "", name); sub(/ .*/, "", name)
        if (name != "seed_store")
          printf "fuzz %s: execs %d, new corpus units %d, crashes %d\n", name, execs[n], added[n], ($0 ~ /Passed/) ? 0 : 1
      }' build-fuzz/fuzz-output.log
    ((rc == 0)) || die "a fuzz target failed: see build-fuzz/fuzz-output.log and build-fuzz/tests/fuzz/crash-*"
    ;;
  sim)
    minutes="${1:-10}"
    (($# == 0)) || shift
    [[ "$minutes" =~ ^[0-9]+$ ]] || die "sim takes a number of minutes, got '$minutes'"
    install_deps
    # The engine's test hooks make the simulation deterministic (EVSTORE_SERIAL_IO): on even
    # when build/ was configured for Release.
    log "configuring build (with test hooks)"
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEVSTORE_TEST_HOOKS=ON
    cmake --build build --target evstore_sim
    # Fresh seeds each run (ctest runs the low ones); EVSTORE_SIM_SEED picks the first.
    first="${EVSTORE_SIM_SEED:-$(date +%s)}"
    log "simulating for ${minutes} min, seeds from ${first}; a failing seed prints its replay command"
    rc=0
    build/tests/evstore_sim --minutes "$minutes" --seed "$first" --steps 300 "$@" | tee build/sim-output.log ||
      rc=$?
    ((rc == 0)) || die "the simulation found violations: replay commands above (build/sim-output.log)"
    ;;
  scavenge-sim)
    seeds="${1:-500}"
    [[ "$seeds" =~ ^[0-9]+$ ]] || die "scavenge-sim takes a number of seeds, got '$seeds'"
    install_deps
    configure_and_build build
    first="${EVSTORE_SCAVENGE_SIM_SEED:-$(date +%s)}"
    log "simulating ${seeds} seeds from ${first}"
    EVSTORE_SCAVENGE_SIM_SEED="$first" EVSTORE_SCAVENGE_SIM_SEEDS="$seeds" \
      build/tests/evstore_tests --gtest_filter='scavenge_sim.*' --gtest_brief=1 ||
      die "the scavenge simulation failed: the seed and step are above"
    echo "seeds ${seeds}: passed"
    ;;
  tsan)
    # ThreadSanitizer over the tests that run threads: readers during appends (store_test),
    # subscriptions, followers and their file watcher, consumers, read streams, the server
    # (evstored is built with TSan too and inherits TSAN_OPTIONS), the HTTP deadlines.
    # Not the crash/kill/fuzz suites: they test processes, not threads.
    tsan_filter='*/store_test.*:*/subscription_test.*:subscription.*:*/follower_test.*:follower_in_process.*'
    tsan_filter+=':file_watcher_test.*:consumer_test.*:*/read_stream_test.*:read_stream_delete.*:read_stream_create.*'
    tsan_filter+=':server_test.*:hostile_http_test.*:live_test.*:auth_test.*:in_process_server_test.*:net_deadline.*'
    tsan_filter+=':stream_index_run.many_threads*:stream_index_threads.*:system_stream.*'
    tsan_filter+=':*/completion_test.*:scoped_token_server_test.*:stream_lifecycle.*:lifecycle_server_test.*'
    tsan_filter+=':scavenge.*'
    install_deps
    log "configuring build-tsan (ThreadSanitizer)"
    cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEVSTORE_TSAN=ON \
      -DEVSTORE_BUILD_BENCH=OFF "$@"
    log "building the threaded tests (and the evstored they start)"
    cmake --build build-tsan --target evstore_tests
    rm -rf build-tsan/tsan-logs
    mkdir -p build-tsan/tsan-logs
    # Reports go to one file per process (the test binary and every evstored it starts).
    export TSAN_OPTIONS="suppressions=$PWD/tools/tsan.supp log_path=$PWD/build-tsan/tsan-logs/race second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
    log "running the threaded tests under ThreadSanitizer"
    rc=0
    build-tsan/tests/evstore_tests --gtest_filter="$tsan_filter" --gtest_brief=1 \
      >build-tsan/tsan-output.log 2>&1 || rc=$?
    tail -n 20 build-tsan/tsan-output.log
    tests="$(sed -nE 's/^\[==========\] ([0-9]+) tests? from .* ran\..*/\1/p' build-tsan/tsan-output.log | tail -n 1)"
    races="$(cat build-tsan/tsan-logs/race* 2>/dev/null | grep -c '^WARNING: ThreadSanitizer:' || true)"
    echo "tests ${tests:-0}, races ${races}"
    ((races == 0)) || die "ThreadSanitizer reports: build-tsan/tsan-logs/"
    ((rc == 0)) || die "a test failed under ThreadSanitizer: build-tsan/tsan-output.log"
    ;;
  bench)
    # Figures for docs/performance.md: one command from a fresh machine to the
    # table and the charts.
    packages+=("${bench_packages[@]}")
    install_deps
    configure_and_build build
    BUILD_DIR=build bench/run-peers.sh "$@"
    exec node bench/charts.mjs
    ;;
  mutate)
    # Mutation testing: tools/mutate.sh builds each mutant in build-mutate/ (a copy of the
    # tree, never the tree itself) and runs its targeted tests; its arguments pass through.
    packages+=("${test_packages[@]}")
    install_deps
    exec tools/mutate.sh "$@"
    ;;
  -h | --help | help)
    usage
    ;;
  *)
    usage >&2
    die "unknown subcommand: $cmd"
    ;;
esac
