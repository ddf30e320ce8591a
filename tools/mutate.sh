#!/usr/bin/env bash
# Mutation testing of the safety-critical lines: each mutant of tools/mutants.tsv
# is one realistic one-line bug (a check deleted, an off-by-one, an fsync
# skipped). The suite must fail on it; a mutant that survives is a behaviour no
# test checks. Figure and history: docs/reliability.md, "Mutation testing".
#
#   tools/mutate.sh [--only ID,ID,...] [--full] [--timeout S] [--min PERCENT]
#                   [--list FILE] [--no-baseline]
#
#   --only ID,...   run these mutants only (default: every one of the list)
#   --full          a mutant its targeted tests miss is run against the whole
#                   test binary too (slow: the whole suite per survivor)
#   --timeout S     seconds per test run (default 600); a run that hangs counts
#                   as killed, as a crash does
#   --min PERCENT   exit 1 when fewer are killed (default 95)
#   --list FILE     the mutants (default tools/mutants.tsv; format in its header)
#   --no-baseline   skip the run of every targeted test on the unmutated tree
#
# The mutants are applied to a copy of the tree in build-mutate/src (never to
# the tree itself, so an interrupted run leaves no bug behind and the tree may
# be edited meanwhile), built in build-mutate/src/build (the same relative
# layout as build/, so ccache with CCACHE_BASEDIR hits on the unmutated files),
# rebuilding only what the mutated file touches. For each mutant: copy the
# file, apply the snippet's replacement, build evstore_tests (and the binaries
# it starts), run the mutant's targeted tests, restore the file (a trap
# restores it on any exit).
#
# One line per mutant: id, killed / SURVIVED / STALE (snippet not found, or
# found more than once) / BROKEN (does not compile) / NO-TESTS (its filter
# matches no test), then "mutants N, killed K (P%)". Exit status 0 only if no
# mutant is stale, broken or without tests and K/N >= --min.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
list="$root/tools/mutants.tsv"
only=""
full=0
timeout_s=600
min_percent=95
baseline=1

die() { printf 'mutate.sh: %s\n' "$*" >&2; exit 2; }
log() { printf '==> %s\n' "$*" >&2; }

while (($# > 0)); do
  case "$1" in
    --only) only="${2:?--only needs ids}"; shift 2 ;;
    --full) full=1; shift ;;
    --timeout) timeout_s="${2:?--timeout needs seconds}"; shift 2 ;;
    --min) min_percent="${2:?--min needs a percentage}"; shift 2 ;;
    --list) list="${2:?--list needs a file}"; shift 2 ;;
    --no-baseline) baseline=0; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
[[ "$timeout_s" =~ ^[0-9]+$ ]] || die "--timeout takes seconds, got '$timeout_s'"
[[ "$min_percent" =~ ^[0-9]+$ ]] || die "--min takes a whole percentage, got '$min_percent'"
[[ -f "$list" ]] || die "no mutant list at $list"
python="${PYTHON:-python3}"
command -v "$python" >/dev/null || die "python3 not found (set PYTHON)"

work="$root/build-mutate"
src="$work/src"
bld="$src/build"
logs="$work/logs"
mkdir -p "$src" "$logs"

# --- The list (format in its header), checked and cut into fields by Python:
# bash's read would merge the empty fields of tab-separated lines.
ids=() files=() originals=() replacements=() filters=() whats=()
parsed="$work/mutants.parsed"
"$python" - "$list" "$only" >"$parsed" <<'PY' || die "bad mutant list $list"
import sys
path, only = sys.argv[1], sys.argv[2]
wanted = set(x for x in only.split(",") if x)
seen, out = set(), []
for n, line in enumerate(open(path, encoding="utf-8"), 1):
    line = line.rstrip("\n")
    if not line.strip() or line.startswith("#"):
        continue
    f = line.split("\t")
    if len(f) != 6 or not all(f[k] for k in (0, 1, 2, 4, 5)):
        sys.exit(f"{path}:{n}: want 6 tab-separated fields (only the replacement may be empty), got {len(f)}")
    if f[0] in seen:
        sys.exit(f"{path}:{n}: id {f[0]} twice")
    seen.add(f[0])
    if not wanted or f[0] in wanted:
        out.extend(f)
missing = wanted - seen
if missing:
    sys.exit(f"no mutant {', '.join(sorted(missing))} in {path}")
sys.stdout.write("".join(x + "\0" for x in out))
PY
mapfile -d '' fields <"$parsed"
for ((k = 0; k < ${#fields[@]}; k += 6)); do
  ids+=("${fields[k]}") files+=("${fields[k + 1]}") originals+=("${fields[k + 2]}")
  replacements+=("${fields[k + 3]}") filters+=("${fields[k + 4]}") whats+=("${fields[k + 5]}")
done
((${#ids[@]} > 0)) || die "no mutants selected from $list"

export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$root}" CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"
fi
# Every mutant relinks the test binary and the programs it starts: lld makes that cheap.
linker=()
if command -v ld.lld >/dev/null 2>&1; then linker=(-DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld); fi

# --- The copy of the tree: files whose content changed are rewritten (with a
# new mtime, so ninja rebuilds them), files gone from the tree are removed.
log "syncing the tree into $src"
"$python" - "$root" "$src" <<'PY'
import os, shutil, subprocess, sys
root, dst = sys.argv[1], sys.argv[2]
try:
    out = subprocess.run(["git", "-C", root, "ls-files", "-z", "-co", "--exclude-standard"],
                         check=True, capture_output=True).stdout
    files = [f for f in out.decode().split("\0") if f]
except (OSError, subprocess.CalledProcessError):
    files = []
    for d, dirs, names in os.walk(root):
        rel = os.path.relpath(d, root)
        dirs[:] = [x for x in dirs if not (rel == "." and (x.startswith("build") or x == ".git"))]
        files += [os.path.normpath(os.path.join(rel, n)) for n in names]
wanted = set()
changed = 0
for f in files:
    s = os.path.join(root, f)
    if not os.path.isfile(s) or os.path.islink(s):
        continue
    wanted.add(f)
    d = os.path.join(dst, f)
    with open(s, "rb") as a:
        data = a.read()
    try:
        with open(d, "rb") as b:
            if b.read() == data:
                continue
    except FileNotFoundError:
        os.makedirs(os.path.dirname(d), exist_ok=True)
    with open(d, "wb") as b:
        b.write(data)
    shutil.copymode(s, d)
    changed += 1
for d, dirs, names in os.walk(dst):
    rel = os.path.relpath(d, dst)
    if rel == ".":
        dirs[:] = [x for x in dirs if x != "build"]
    for n in names:
        f = os.path.normpath(os.path.join(rel, n))
        if f not in wanted:
            os.remove(os.path.join(d, n))
print(f"{changed} of {len(wanted)} files updated", file=sys.stderr)
PY

if [[ ! -f "$bld/build.ninja" ]]; then
  log "configuring $bld"
  cmake -S "$src" -B "$bld" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEVSTORE_WERROR=ON \
    -DEVSTORE_BUILD_BENCH=OFF "${launcher[@]}" "${linker[@]}" >"$logs/configure.log" 2>&1 ||
    die "configure failed: $logs/configure.log"
fi
build() { cmake --build "$bld" --target evstore_tests >"$1" 2>&1; }
log "building the unmutated tree"
build "$logs/unmutated.build.log" || die "the unmutated tree does not build: $logs/unmutated.build.log"
tests_bin="$bld/tests/evstore_tests"

# Runs the test binary with a filter; prints the exit status (124: timed out)
# and leaves the output in $1. "NO-TESTS" when the filter matches nothing.
run_tests() {
  local out="$1" filter="$2" rc=0
  (cd "$bld" && timeout --kill-after=10 "$timeout_s" "$tests_bin" --gtest_filter="$filter" \
    --gtest_color=no >"$out" 2>&1) || rc=$?
  if grep -q '^\[==========\] 0 tests from 0 test suites ran' "$out"; then echo "NO-TESTS"; else echo "$rc"; fi
}

if ((baseline)); then
  union="$(printf '%s:' "${filters[@]}")"
  union="${union%:}"
  log "baseline: every targeted test on the unmutated tree"
  rc="$(run_tests "$logs/baseline.log" "$union")"
  [[ "$rc" == 0 ]] || die "targeted tests fail without any mutant (status $rc): $logs/baseline.log"
fi

# --- Apply, build, run, restore.
current_file="" backup="$work/backup"
restore() {
  if [[ -n "$current_file" ]]; then
    cp "$backup" "$src/$current_file"  # a new mtime: ninja rebuilds the original
    current_file=""
  fi
}
trap restore EXIT
trap 'restore; exit 130' INT TERM

# apply FILE ORIGINAL REPLACEMENT: prints how often ORIGINAL occurs; replaces it if once.
apply() {
  "$python" - "$@" <<'PY'
import sys
path, original, replacement = sys.argv[1:4]
def unescape(s):
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s) and s[i + 1] in "nt\\":
            out.append({"n": "\n", "t": "\t", "\\": "\\"}[s[i + 1]])
            i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)
original, replacement = unescape(original), unescape(replacement)
text = open(path, encoding="utf-8").read()
n = text.count(original)
print(n)
if n == 1:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace(original, replacement))
PY
}

total=0 killed=0 stale=0 broken=0 untested=0
started=$SECONDS
printf '%-5s %-9s %6s  %-32s %s\n' id result time file "what (killed by)"
for i in "${!ids[@]}"; do
  id="${ids[$i]}" file="${files[$i]}" filter="${filters[$i]}"
  t0=$SECONDS
  result="" detail="${whats[$i]}"
  if [[ ! -f "$src/$file" ]]; then
    result="STALE" detail="no file $file"
  else
    cp "$src/$file" "$backup"
    current_file="$file"
    found="$(apply "$src/$file" "${originals[$i]}" "${replacements[$i]}")"
    if [[ "$found" != 1 ]]; then
      result="STALE" detail="snippet found $found times in $file"
      restore
    elif ! build "$logs/$id.build.log"; then
      result="BROKEN" detail="does not compile: $logs/$id.build.log"
    else
      used_log="$logs/$id.log"
      rc="$(run_tests "$used_log" "$filter")"
      if [[ "$rc" == NO-TESTS ]]; then
        result="NO-TESTS" detail="filter '$filter' matches no test"
      elif [[ "$rc" != 0 ]]; then
        result="killed"
      elif ((full)); then
        used_log="$logs/$id.full.log"
        rc="$(run_tests "$used_log" "-$filter")"
        if [[ "$rc" == 0 ]]; then result="SURVIVED"; else result="killed" detail+=" [full suite]"; fi
      else
        result="SURVIVED"
      fi
      if [[ "$result" == killed ]]; then
        if [[ "$rc" == 124 || "$rc" == 137 ]]; then
          by="timed out"
        else
          by="$(sed -n 's/^\[  FAILED  \] \([^ ,]*\).*/\1/p' "$used_log" | grep -v '^[0-9]*$' | sort -u |
            head -n 2 | paste -sd' ' -)"
          [[ -n "$by" ]] || by="exit status $rc"
        fi
        detail+=" ($by)"
      fi
    fi
    restore
  fi
  case "$result" in
    killed) total=$((total + 1)); killed=$((killed + 1)) ;;
    SURVIVED) total=$((total + 1)) ;;
    STALE) stale=$((stale + 1)) ;;
    BROKEN) broken=$((broken + 1)) ;;
    NO-TESTS) untested=$((untested + 1)) ;;
  esac
  printf '%-5s %-9s %5ss  %-32s %s\n' "$id" "$result" $((SECONDS - t0)) "$file" "$detail"
done

log "$((SECONDS - started)) s; logs in $logs"
if ((stale + broken + untested > 0)); then
  echo "stale $stale, broken $broken, without tests $untested: fix tools/mutants.tsv"
fi
percent=0
((total > 0)) && percent=$((100 * killed / total))
echo "mutants $total, killed $killed ($percent%)"
((stale + broken + untested == 0)) || exit 1
((total > 0 && 100 * killed >= min_percent * total)) || exit 1
exit 0
