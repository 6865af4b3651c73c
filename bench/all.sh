#!/usr/bin/env bash
# Every benchmark, each against the real alternatives in the same run, as one table.
#   bench/all.sh [RUNS]     (root; ./dev.sh bench runs it after installing what it needs)
# The table goes to stdout and to $BENCH_OUT/table.md; every run's raw figures stay in $BENCH_OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
# A directory of this run's own: two runs started in the same second must not share one.
export BENCH_OUT=${BENCH_OUT:-$(mktemp -d "/tmp/rcinit-bench-$(date +%Y%m%d-%H%M%S).XXXXXX")}
mkdir -p "$BENCH_OUT"
: >"$BENCH_OUT/rows.md"
OUT=$BENCH_OUT
. bench/lib.sh
bench_build

bench/supervisors.sh "$RUNS"
bench/runtime.sh 3
bench/docker.sh 3
size=$(stat -c %s "$BIN")
row "size of the static stripped binary, bytes" "$size" "tini-static $(stat -c %s "$(command -v tini-static)")" \
	"$(awk -v s="$size" 'BEGIN { printf "%.2f MiB", s / 1048576 }')" "< 2 MiB"

{
	echo "rcinit $(git describe --always --dirty 2>/dev/null || echo '?'), $(date -u +%Y-%m-%d), $(nproc) cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), Linux $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME")."
	echo "Medians over repeated runs, the alternatives interleaved with rcinit in the same run; ratios are per run, then the median (x > 1: rcinit is that many times better)."
	echo
	echo "| what | rcinit | alternatives, same run | ratio | target |"
	echo "| --- | --- | --- | --- | --- |"
	cat "$BENCH_OUT/rows.md"
} >"$BENCH_OUT/table.md"
echo
cat "$BENCH_OUT/table.md"
