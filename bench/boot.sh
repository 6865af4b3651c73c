#!/usr/bin/env bash
# Benchmark: booting and stopping N supervised services (default 20, a dependency tree), rcinit as
# PID 1 against real OpenRC (`openrc default`, one supervise-daemon per service, then
# `openrc shutdown`), in the same Debian rootfs, in the same run, interleaved; and the memory each
# needs to supervise them (rcinit's RSS and PSS against the sum over OpenRC's supervise-daemons).
#   bench/boot.sh [N] [RUNS]      (root; ./dev.sh deps first)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20}
RUNS=${2:-9}
ROOTFS=${RCINIT_DEBIAN_ROOTFS:-/var/cache/rcinit/debian-openrc}
[ -x "$ROOTFS/sbin/openrc" ] || { echo "no OpenRC rootfs at $ROOTFS: run ./dev.sh deps" >&2; exit 1; }
cargo build --release --target x86_64-unknown-linux-musl >&2
BIN=$PWD/target/x86_64-unknown-linux-musl/release/rcinit

F=$(mktemp -d /tmp/rcinit-bench.XXXXXX)
trap 'rm -rf "$F"' EXIT
mkdir -p "$F"/{init.d,conf.d,rc.conf.d,runlevels/{sysinit,boot,default,shutdown}}
: >"$F/rc.conf"
# A tree: service i needs i/2.
for i in $(seq 1 "$N"); do
	deps=":"
	[ "$i" -gt 1 ] && deps="need s$((i / 2))"
	cat >"$F/init.d/s$i" <<SCRIPT
#!/sbin/openrc-run
command=/bin/sleep
command_args="100000"
supervisor=supervise-daemon
depend() {
	$deps
}
SCRIPT
	chmod +x "$F/init.d/s$i"
	ln -s "/etc/init.d/s$i" "$F/runlevels/default/s$i"
done

unshare --pid --fork --mount --mount-proc --propagation private /bin/bash -s "$ROOTFS" "$F" "$BIN" "$RUNS" "$N" <<'INNER'
set -euo pipefail
R=$1 F=$2 BIN=$3 RUNS=$4 N=$5
for d in init.d conf.d runlevels rc.conf.d; do mount --bind "$F/$d" "$R/etc/$d"; done
mount --bind "$F/rc.conf" "$R/etc/rc.conf"
mount -t proc proc "$R/proc"
mount -t tmpfs tmpfs "$R/run"
cp "$BIN" "$R/run/rcinit"
chroot "$R" /bin/sh -c 'openrc sysinit; openrc boot' >/dev/null 2>&1 || true
now() { date +%s%N; }
kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/$3" 2>/dev/null || echo 0; }
pss() { awk '/^Pss:/ {s += $2} END {print s+0}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
openrc_once() {
	local t0 t1 t2 rss=0 p=0
	t0=$(now)
	chroot "$R" openrc default >/dev/null 2>&1
	t1=$(now)
	local n; n=$(ls "$R/run/openrc/started" | grep -c '^s' || true)
	[ "$n" -eq "$N" ] || { echo "OpenRC started $n of $N" >&2; exit 1; }
	for pid in $(pgrep -f "^supervise-daemon|^/sbin/supervise-daemon"); do
		rss=$((rss + $(kib "$pid" VmRSS status))); p=$((p + $(pss "$pid")))
	done
	t2=$(now)
	chroot "$R" openrc shutdown >/dev/null 2>&1
	echo "$(( (t1 - t0) / 1000 )) $(( ($(now) - t2) / 1000 )) $rss $p"
}
rcinit_once() {
	local fifo t0 t1 t2 line pid
	fifo=$(mktemp -u /tmp/rcinit-bench-fifo.XXXXXX); mkfifo "$fifo"
	t0=$(now)
	unshare --pid --fork chroot "$R" /run/rcinit 2>"$fifo" >/dev/null &
	local outer=$!
	exec 3<"$fifo"
	while IFS= read -r line <&3; do
		case $line in *"services started"*) break ;; esac
	done
	t1=$(now)
	case $line in *" $N of $N services started"*) ;; *) echo "rcinit: $line" >&2; exit 1 ;; esac
	pid=$(pgrep -f "^/run/rcinit$" | head -1)
	local rss p; rss=$(kib "$pid" VmRSS status); p=$(pss "$pid")
	t2=$(now)
	kill -TERM "$pid"
	cat <&3 >/dev/null
	wait "$outer"
	exec 3<&-; rm -f "$fifo"
	echo "$(( (t1 - t0) / 1000 )) $(( ($(now) - t2) / 1000 )) $rss $p"
}
openrc_once >/dev/null; rcinit_once >/dev/null
o=(); r=()
for _ in $(seq "$RUNS"); do o+=("$(openrc_once)"); r+=("$(rcinit_once)"); done
col() { local c=$1; shift; printf '%s\n' "$@" | awk -v c="$c" '{print $c}' | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo
echo "| $N services, $RUNS runs interleaved (medians) | boot ms | stop ms | RSS KiB | PSS KiB |"
echo "| --- | --- | --- | --- | --- |"
printf '| OpenRC 0.45.2: openrc default / shutdown; %s supervise-daemons | %.1f | %.1f | %s | %s |\n' "$N" \
	"$(awk -v v="$(col 1 "${o[@]}")" 'BEGIN {print v/1000}')" "$(awk -v v="$(col 2 "${o[@]}")" 'BEGIN {print v/1000}')" "$(col 3 "${o[@]}")" "$(col 4 "${o[@]}")"
printf '| rcinit as PID 1: boot / SIGTERM to exit; rcinit alone | %.1f | %.1f | %s | %s |\n' \
	"$(awk -v v="$(col 1 "${r[@]}")" 'BEGIN {print v/1000}')" "$(awk -v v="$(col 2 "${r[@]}")" 'BEGIN {print v/1000}')" "$(col 3 "${r[@]}")" "$(col 4 "${r[@]}")"
awk -v ob="$(col 1 "${o[@]}")" -v rb="$(col 1 "${r[@]}")" -v os="$(col 2 "${o[@]}")" -v rs="$(col 2 "${r[@]}")" -v om="$(col 4 "${o[@]}")" -v rm="$(col 4 "${r[@]}")" \
	'BEGIN { printf "| ratio (OpenRC / rcinit) | %.1fx | %.1fx | | %.1fx |\n", ob/rb, os/rs, om/rm }'
INNER
