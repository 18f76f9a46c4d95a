#!/usr/bin/env bash
# Interleaved rounds of `optimist bench --store sqlite:...` against `sqlite_raw` in one
# sitting: each round runs every optimist binary and then the raw loop, each on a fresh
# database file in a fresh temp dir, and prints each rate and its ratio to the raw loop of
# the same round; at the end, per binary, the median of the per-round ratios.
#
#   bash benches/native/sqlite_rounds.sh [ROUNDS] [SECONDS] [WORKERS...]   (default 9 3 1 8)
#
# OPTIMIST="name=path name=path ..." picks the optimist binaries (default: cur=the release
# build of the current target dir); RAW="name=path ..." the raw loops (default: raw=the
# newest sqlite_raw in the target dir), each ratio is to every raw loop of the round. Copy
# binaries away from the target dir first: a build into it must not swap them mid-run.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-9}
SECS=${2:-3}
shift "$(( $# < 2 ? $# : 2 ))"
WORKERS=("$@")
[ ${#WORKERS[@]} -eq 0 ] && WORKERS=(1 8)
TARGET=${CARGO_TARGET_DIR:-target}
OPTIMIST=${OPTIMIST:-cur=$TARGET/release/optimist}
RAW=${RAW:-raw=$(ls -t "$TARGET"/release/deps/sqlite_raw-* | grep -v '\.d$' | head -n1)}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

ours() { # binary workers dir -> successful CAS/s (the run's verification must pass)
  RUST_LOG=warn "$1" bench --store "sqlite:$3/bench.db" --workers "$2" --keys 1024 \
    --duration "${SECS}s" --json \
    | python3 -c 'import json,sys; r=json.load(sys.stdin); assert r["verification"]["ok"], r; print(round(r["successful_cas_per_s"]))'
}
raw() { # binary workers dir -> successful CAS/s (sqlite_raw puts its file in TMPDIR)
  TMPDIR=$3 "$1" "$2" "$SECS" 1024 | sed -E 's/.*: ([0-9]+) successful.*/\1/'
}
measure() { # RESULTS RUN SPECS WORKERS: RESULTS[name] = RUN path WORKERS fresh-dir, per spec
  local -n results=$1
  local spec dir
  for spec in $3; do
    dir=$(mktemp -d -p "$TMP")
    results[${spec%%=*}]=$("$2" "${spec#*=}" "$4" "$dir")
    rm -rf "$dir"
  done
}

for w in "${WORKERS[@]}"; do
  echo "== workers=$w rounds=$ROUNDS secs=$SECS (load: $(cut -d' ' -f1-3 /proc/loadavg))"
  : >"$TMP/ratios-$w"
  for r in $(seq 1 "$ROUNDS"); do
    line="round $r:"
    declare -A rate=() base=()
    measure rate ours "$OPTIMIST" "$w"
    measure base raw "$RAW" "$w"
    for spec in $OPTIMIST; do
      name=${spec%%=*}
      line+=" $name=${rate[$name]}"
    done
    for rspec in $RAW; do
      rname=${rspec%%=*}
      line+=" | $rname=${base[$rname]}:"
      for spec in $OPTIMIST; do
        name=${spec%%=*}
        ratio=$(python3 -c "print(f'{${rate[$name]} / ${base[$rname]}:.3f}')")
        line+=" $name ${ratio}x"
        echo "$name/$rname $ratio" >>"$TMP/ratios-$w"
      done
    done
    echo "$line"
    unset base
    unset rate
  done
  python3 - "$TMP/ratios-$w" "$w" <<'PY'
import statistics, sys
by = {}
for line in open(sys.argv[1]):
    name, ratio = line.split()
    by.setdefault(name, []).append(float(ratio))
for name, rs in by.items():
    print(f"workers={sys.argv[2]} {name}: median ratio {statistics.median(rs):.3f} "
          f"(min {min(rs):.3f}, max {max(rs):.3f}, {len(rs)} rounds)")
PY
done
