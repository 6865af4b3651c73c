#!/usr/bin/env bash
# Benchmark: evaluating N init scripts (default 100) and planning them, rcinit against OpenRC's own
# dependency-cache generation (`rc-depend -u`, which runs its generator over every script), in the
# same Debian rootfs, in the same run, interleaved. Medians over RUNS runs (default 15).
#   bench/eval.sh [N] [RUNS]      (root; ./dev.sh deps first)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100}
RUNS=${2:-15}
ROOTFS=${RCINIT_DEBIAN_ROOTFS:-/var/cache/rcinit/debian-openrc}
[ -x "$ROOTFS/sbin/openrc" ] || { echo "no OpenRC rootfs at $ROOTFS: run ./dev.sh deps" >&2; exit 1; }
cargo build --release --target x86_64-unknown-linux-musl >&2
BIN=$PWD/target/x86_64-unknown-linux-musl/release/rcinit

F=$(mktemp -d /tmp/rcinit-bench.XXXXXX)
trap 'rm -rf "$F"' EXIT
mkdir -p "$F"/{init.d,conf.d,rc.conf.d,runlevels/{sysinit,boot,default}}
echo 'rc_loopsolver_enable="NO"' >"$F/rc.conf"
# A tree: service i needs i/2 and uses i/3, every fifth has a conf.d adding an after.
for i in $(seq 1 "$N"); do
	deps=""
	[ "$i" -gt 1 ] && deps="need s$((i / 2))"
	[ "$i" -gt 2 ] && deps="$deps; use s$((i / 3))"
	cat >"$F/init.d/s$i" <<SCRIPT
#!/sbin/openrc-run
description="bench service $i"
command=/bin/sleep
command_args="100000 \${SLEEP_EXTRA:-}"
supervisor=supervise-daemon
depend() {
	${deps:-:}
}
SCRIPT
	chmod +x "$F/init.d/s$i"
	[ $((i % 5)) -eq 0 ] && echo "rc_after=\"s$((i - 1))\"" >"$F/conf.d/s$i"
	ln -s "/etc/init.d/s$i" "$F/runlevels/default/s$i"
done

unshare --pid --fork --mount --propagation private /bin/bash -s "$ROOTFS" "$F" "$BIN" "$RUNS" "$N" <<'INNER'
set -euo pipefail
R=$1 F=$2 BIN=$3 RUNS=$4 N=$5
for d in init.d conf.d runlevels rc.conf.d; do mount --bind "$F/$d" "$R/etc/$d"; done
mount --bind "$F/rc.conf" "$R/etc/rc.conf"
mount -t proc proc "$R/proc"
mount -t tmpfs tmpfs "$R/run"
mkdir -p "$R/run/openrc"
now() { date +%s%N; }
openrc_once() {
	rm -f "$R/run/openrc/deptree"
	local t0; t0=$(now)
	chroot "$R" /usr/lib/rc/bin/rc-depend -u >/dev/null 2>&1
	echo $(( ($(now) - t0) / 1000 ))
}
rcinit_once() {
	local t0; t0=$(now)
	RCINIT_PROVIDE= "$BIN" graph --format json --root "$R" >/dev/null
	echo $(( ($(now) - t0) / 1000 ))
}
# Both must have done the work: OpenRC's deptree names every service, rcinit plans all of them.
openrc_once >/dev/null
got=$(grep -c "_service='s" "$R/run/openrc/deptree" || true)
[ "$got" -eq "$N" ] || { echo "OpenRC's deptree has $got of $N services" >&2; exit 1; }
planned=$(RCINIT_PROVIDE= "$BIN" graph --root "$R" | awk '/^start/ {on=1; next} /^stop/ {on=0} on {n += NF - 1} END {print n+0}')
[ "$planned" -eq "$N" ] || { echo "rcinit planned $planned of $N" >&2; exit 1; }
o=(); r=()
for _ in $(seq "$RUNS"); do o+=("$(openrc_once)"); r+=("$(rcinit_once)"); done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
range() { printf '%s\n' "$@" | sort -n | awk 'NR==1{lo=$1} {hi=$1} END {printf "%.1f..%.1f", lo/1000, hi/1000}'; }
mo=$(median "${o[@]}"); mr=$(median "${r[@]}")
echo
echo "| $N scripts, $RUNS runs interleaved | median ms | range ms | ratio |"
echo "| --- | --- | --- | --- |"
awk -v m="$mo" -v rg="$(range "${o[@]}")" 'BEGIN { printf "| OpenRC 0.45.2 rc-depend -u (deptree generation) | %.1f | %s | 1 |\n", m/1000, rg }'
awk -v m="$mr" -v rg="$(range "${r[@]}")" -v b="$mo" 'BEGIN { printf "| rcinit graph --root (evaluation and plan) | %.1f | %s | %.1fx faster |\n", m/1000, rg, b/m }'
INNER
