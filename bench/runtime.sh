#!/usr/bin/env bash
# Benchmarks of rcinit at run time, each against the real alternative in the same run:
#   logs: prefixed forwarding of 500 MB of 80-byte lines from one service, against `cat` through
#         a pipe (the ceiling) and the shell prefix loop people use (`while read; printf`);
#   idle: wake-ups (context switches, all threads) of PID 1 over 10 s with 20 services up,
#         against tini (Debian's tini-static) as PID 1 over a shell that started the same 20;
#   reap: 10,000 orphans made at once by bench's `orphans` helper (bench/orphans.rs) as the
#         command of PID 1: release -> all reaped, rcinit against tini.
#   bench/runtime.sh [RUNS]      (root; installs tini when missing)
# Prints rows of the bench table (bench/all.sh). ONLY=logs|idle|reap runs one part.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
OUT=${BENCH_OUT:-$(mktemp -d /tmp/rcinit-bench.XXXXXX)}
. bench/lib.sh
bench_host_packages
bench_build
T=$(mktemp -d /dev/shm/rcinit-bench.XXXXXX)
trap 'rm -rf "$T"' EXIT
only() { [ -z "${ONLY:-}" ] || [ "$ONLY" = "$1" ]; }

# A busybox root with rcinit, tini, a flood service and 20 sleepers (in a second runlevel).
R=$T/root
mkdir -p "$R"/{bin,sbin,proc,dev,tmp,run,etc/init.d,etc/runlevels/flood,etc/runlevels/idle,etc/runlevels/empty,data}
cp /bin/busybox "$R/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$R/bin/$a"; done
cp "$BIN" "$R/sbin/rcinit"
cp "$(command -v tini-static)" "$R/sbin/tini"
cp "$ORPHANS" "$R/bin/orphans"
printf '#!/sbin/openrc-run\nstart() { cat /data/lines; }\n' >"$R/etc/init.d/flood"
ln -s /etc/init.d/flood "$R/etc/runlevels/flood/flood"
for i in $(seq 1 20); do
	printf '#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sleep\ncommand_args=%s\n' $((100000 + i)) >"$R/etc/init.d/s$i"
	ln -s "/etc/init.d/s$i" "$R/etc/runlevels/idle/s$i"
done
chmod +x "$R"/etc/init.d/*
cat >"$R/bin/sleepers" <<'SH'
#!/bin/sh
i=1; while [ $i -le 20 ]; do sleep $((100000 + i)) & i=$((i + 1)); done; wait
SH
cat >"$R/bin/prefix-loop" <<'SH'
#!/bin/sh
prefix=${1:-x}; while IFS= read -r line; do printf '[%s] %s\n' "$prefix" "$line"; done
SH
chmod +x "$R/bin/sleepers" "$R/bin/prefix-loop"

# 500 MB of 80-byte lines (79 characters + newline).
LINES=6250000
only logs && { { yes "$(printf "%079d" 0)" || true; } | head -n $LINES >"$R/data/lines"; }
BYTES=$((LINES * 80))
mb_s() { echo "scale=1; $1 * 1000 / $2" | bc; }   # bytes, ns -> MB/s
now() { date +%s%N; }

# Runs "$@" as PID 1 inside the root, in fresh namespaces, and writes that PID 1's host pid to
# $PIDF when set. --kill-child: if unshare goes (the `timeout` below), its namespace goes with it.
# Every run is bounded: a hang fails the bench loudly instead of waiting for ever.
in_ns() {
	timeout -s KILL "${BOUND:-600}" unshare --pid --fork --mount --kill-child --propagation private -- /bin/sh -c '
		R=$1 P=$2; shift 2
		[ -z "$P" ] || { read -r hp _ </proc/self/stat; echo "$hp" >"$P"; }
		mount -t proc proc "$R/proc"
		mount -o rbind /dev "$R/dev"
		exec chroot "$R" "$@"' ns "$R" "${PIDF:-}" "$@"
}

: >"$T/cat" ; : >"$T/rcinit" ; : >"$T/loop"
only logs && RUNS_LOGS=$RUNS || RUNS_LOGS=0
for run in $(seq 1 "$RUNS_LOGS"); do
	s=$(now); n=$(cat "$R/data/lines" | cat | wc -c); e=$(now)
	[ "$n" -eq $BYTES ] || { echo "cat lost bytes: $n" >&2; exit 1; }
	mb_s $BYTES $((e - s)) >>"$T/cat"
	s=$(now); n=$(RCINIT_RUNLEVEL=flood in_ns /sbin/rcinit true 2>/dev/null | wc -c); e=$(now)
	want=$((LINES * 88))   # "[flood] " before every line
	[ "$n" -eq $want ] || { echo "rcinit forwarded $n bytes, not $want" >&2; exit 1; }
	mb_s $BYTES $((e - s)) >>"$T/rcinit"
	# The loop is ~1000x slower: 5 MB of the same lines.
	s=$(now); n=$(head -n 62500 "$R/data/lines" | chroot "$R" /bin/prefix-loop flood | wc -c); e=$(now)
	[ "$n" -eq $((62500 * 88)) ] || { echo "the loop lost bytes: $n" >&2; exit 1; }
	mb_s 5000000 $((e - s)) >>"$T/loop"
done
cat_m=$(median <"$T/cat"); rc_m=$(median <"$T/rcinit"); loop_m=$(median <"$T/loop")
# Per-run ratios, paired in order (the runs interleave).
ratio_of() { paste "$1" "$2" | awk '$2 > 0 { printf "%.3f\n", $1 / $2 }' | median; }

wakeups() { # pid -> voluntary + involuntary context switches of all its threads
	local sum=0 f v
	for f in /proc/"$1"/task/*/status; do
		v=$(awk '/ctxt_switches/ { s += $2 } END { print s }' "$f")
		sum=$((sum + v))
	done
	echo $sum
}
# The processes of the PID namespace whose init has host pid $1 (read from /proc, nothing else).
ns_procs() {
	local ns
	ns=$(readlink "/proc/$1/ns/pid" 2>/dev/null) || return 0
	ns=${ns//[/\\[}; ns=${ns//]/\\]}   # -lname takes a pattern: "pid:[N]" is a bracket glob
	find /proc/[0-9]*/ns/pid -maxdepth 0 -lname "$ns" 2>/dev/null | cut -d/ -f3
	return 0
}
# How many of those run `sleep 1000..` (the 20 services of both PID 1s).
ns_sleepers() {
	local p n=0
	for p in $(ns_procs "$1"); do
		case "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" in sleep\ 1000* | /bin/sleep\ 1000*) n=$((n + 1)) ;; esac
	done
	echo $n
}
idle() { # label command... -> wake-ups of the namespace's PID 1 over 10 s
	local label=$1; shift
	rm -f "$T/pid1"
	PIDF=$T/pid1 BOUND=60 in_ns "$@" >/dev/null 2>&1 &
	local job=$! pid="" sleeps=0
	for _ in $(seq 1 400); do
		[ -z "$pid" ] && [ -s "$T/pid1" ] && pid=$(cat "$T/pid1")
		[ -n "$pid" ] && sleeps=$(ns_sleepers "$pid")
		[ -n "$pid" ] && [ "$sleeps" -ge 20 ] && break
		kill -0 "$job" 2>/dev/null || break
		sleep 0.05
	done
	[ -n "$pid" ] && [ "$sleeps" -ge 20 ] || { echo "$label did not start its 20 services (pid1 ${pid:-?}, $sleeps sleepers)" >&2; exit 1; }
	sleep 2
	local a b
	a=$(wakeups "$pid"); sleep 10; b=$(wakeups "$pid")
	# Our own namespace's init, by the pid it wrote itself: the namespace ends with it.
	kill -KILL "$pid" 2>/dev/null || true
	wait "$job" 2>/dev/null || true
	echo "$label $((b - a))"
}
: >"$T/idle"
only idle && RUNS_IDLE=$RUNS || RUNS_IDLE=0
for run in $(seq 1 "$RUNS_IDLE"); do
	RCINIT_RUNLEVEL=idle idle rcinit /sbin/rcinit >>"$T/idle"
	idle tini /sbin/tini -- /bin/sleepers >>"$T/idle"
done
rc_w=$(awk '$1 == "rcinit" { print $2 }' "$T/idle" | median)
rc_w=${rc_w:--}
tini_w=$(awk '$1 == "tini" { print $2 }' "$T/idle" | median)
tini_w=${tini_w:--}


reap() { # label command... -> ms from release to all 10,000 reaped
	local out
	out=$(RCINIT_RUNLEVEL=empty in_ns "$@" 2>"$T/reap.err") || { echo "$1: $out $(cat "$T/reap.err")" >&2; exit 1; }
	case $out in "reaped 10000 in "*) ;; *) echo "$*: $out" >&2; exit 1 ;; esac
	echo "$out" | awk '{ print $4 }'
}
: >"$T/reap-rcinit"; : >"$T/reap-tini"
# At least 5 interleaved runs: one noisy run must not flip the verdict.
only reap && RUNS_REAP=$((RUNS * 3 < 5 ? 5 : RUNS * 3)) || RUNS_REAP=0
for run in $(seq 1 "$RUNS_REAP"); do
	reap /sbin/rcinit /bin/orphans 10000 >>"$T/reap-rcinit"
	reap /sbin/tini -- /bin/orphans 10000 >>"$T/reap-tini"
done

if only logs; then
	row "log forwarding with a [prefix], MB/s (500 MB, 80-byte lines)" "$rc_m" \
		"cat \\| cat (no prefix) $cat_m, busybox sh read/printf loop $loop_m" \
		"x$(ratio_of "$T/rcinit" "$T/cat") of cat, x$(ratio_of "$T/rcinit" "$T/loop") of the loop" ">= x0.5 of cat"
fi
if only idle; then
	row "idle wake-ups of PID 1 in 10 s, 20 services" "$rc_w" "tini over a shell $tini_w" "-" "0"
fi
if only reap; then
	spread() { sort -n "$1" | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s-%s", lo, hi }'; }
	ratios=$(paste "$T/reap-tini" "$T/reap-rcinit" | awk '$2 > 0 { printf "%.3f\n", $1 / $2 }')
	row "reap 10,000 orphans: release to all reaped, ms (median of $RUNS_REAP, range)" \
		"$(median <"$T/reap-rcinit") ($(spread "$T/reap-rcinit"))" "tini $(median <"$T/reap-tini") ($(spread "$T/reap-tini"))" \
		"tini/rcinit x$(echo "$ratios" | median) (per-run x$(echo "$ratios" | sort -n | head -1)-x$(echo "$ratios" | sort -n | tail -1))" ">= x1 (no slower than tini)"
fi
