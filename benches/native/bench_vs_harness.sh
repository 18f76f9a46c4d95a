#!/bin/bash
# Interleaved rounds, one sitting: the throughput harness's optimist cell (uniform 1,024 keys,
# 100% CAS, 2 threads) and `optimist bench --store memory --workers 2`, alternating; prints
# per-round harness CAS/s and bench CAS/s. Usage: bench_vs_harness.sh HARNESS_BIN OPTIMIST_BIN [ROUNDS]
H=$1; O=$2; N=${3:-9}
for i in $(seq $N); do
  h=$(OPTIMIST_BENCH_SIPHASH=0 OPTIMIST_BENCH_SECS=0.5 $H "uniform-1k/cas100/t2/optimist" 2>/dev/null | awk '$1=="optimist"{print $3}')
  o=$($O bench --store memory --workers 2 --duration 500ms --json 2>/dev/null | python3 -c "import json,sys; d=json.load(sys.stdin); print(d.get('successful_cas_per_s') or d.get('cas_per_s') or d)")
  echo "$i $h $o"
done
