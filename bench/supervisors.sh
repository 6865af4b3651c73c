#!/usr/bin/env bash
# Benchmark: boot, memory and stop of N services (3, 20, 100; a dependency tree) under rcinit as
# PID 1 against what people run today, in the same Debian rootfs, in the same run, interleaved:
#   OpenRC   the blog post's entrypoint: `openrc <runlevel>` from a shell, supervise-daemon per
#            service, a TERM trap running `openrc shutdown`, a `sleep 1` loop;
#   s6       s6-svscan on one service directory per service (no dependencies: s6 has none);
#   supervisord  one [program] per service, priority = the tree's order.
# Every service is `/bin/busybox sleep 100000`. The yardstick is the same for all: the instant of
# the N-th exec of that command seen by the kernel's process connector (bench/execwatch, no
# polling), from just before `unshare` starts. Memory is VmRSS and Pss summed over every process
# of the PID namespace except the services, 1 s after all started. Stop is `kill -TERM` of PID 1
# to the end of the namespace, with PID 1's exit status. Every PID 1 starts with the environment
# Docker gives a container (PATH, HOSTNAME, HOME), not the benchmark's shell's.
#   bench/supervisors.sh [RUNS] [SIZES]     (root; default 5 runs, sizes "3 20 100")
# Prints rows of the bench table (bench/all.sh) and keeps every run in $BENCH_OUT/supervisors.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
SIZES=${2:-3 20 100}
SETTLE=1
OUT=${BENCH_OUT:-$(mktemp -d /tmp/rcinit-bench.XXXXXX)}
. bench/lib.sh
bench_build
BASE=$(bench_debian_root)
T=$(mktemp -d /tmp/rcinit-bench-sv.XXXXXX)
# This run writes its services into an overlay of its own on the cached root, so two runs on
# one machine (or a run and a test) never rewrite each other's scripts mid-boot.
mkdir -p "$T/upper" "$T/work" "$T/root"
mount -t overlay overlay -o "lowerdir=$BASE,upperdir=$T/upper,workdir=$T/work" "$T/root"
trap 'umount -l "$T/root" 2>/dev/null; rm -rf "$T"' EXIT
ROOT=$T/root

# The services, under each supervisor, for the largest N; smaller runs take a prefix of the tree.
MAX=0
for n in $SIZES; do [ "$n" -gt "$MAX" ] && MAX=$n; done
rm -rf "$ROOT"/etc/init.d/svc-* "$ROOT"/etc/runlevels/bench* "$ROOT"/etc/s6-bench-* "$ROOT"/etc/supervisor-bench-*
for i in $(seq 1 "$MAX"); do
	s=$(printf 'svc-%03d' "$i")
	deps=""
	[ "$i" -gt 1 ] && deps="need $(printf 'svc-%03d' $((i / 2)))"
	[ $((i % 2)) -eq 1 ] && [ "$i" -gt 1 ] && deps="$deps; after $(printf 'svc-%03d' $((i - 1)))"
	cat >"$ROOT/etc/init.d/$s" <<SCRIPT
#!/sbin/openrc-run
supervisor="supervise-daemon"
command="/bin/busybox"
command_args="sleep 100000"
depend() {
	${deps:-:}
}
SCRIPT
	chmod 0755 "$ROOT/etc/init.d/$s"
done
for n in $SIZES; do
	mkdir -p "$ROOT/etc/runlevels/bench$n" "$ROOT/etc/s6-bench-$n"
	conf="$ROOT/etc/supervisor-bench-$n.conf"
	printf '[supervisord]\nlogfile=/run/supervisord.log\npidfile=/run/supervisord.pid\n' >"$conf"
	printf '[unix_http_server]\nfile=/run/supervisor.sock\n' >>"$conf"
	for i in $(seq 1 "$n"); do
		s=$(printf 'svc-%03d' "$i")
		ln -s "/etc/init.d/$s" "$ROOT/etc/runlevels/bench$n/$s"
		mkdir -p "$ROOT/etc/s6-bench-$n/$s"
		printf '#!/bin/sh\nexec /bin/busybox sleep 100000\n' >"$ROOT/etc/s6-bench-$n/$s/run"
		chmod 0755 "$ROOT/etc/s6-bench-$n/$s/run"
		printf '[program:%s]\ncommand=/bin/busybox sleep 100000\npriority=%d\nautorestart=true\n' "$s" "$i" >>"$conf"
	done
done
mkdir -p "$ROOT/bench"
cat >"$ROOT/bench/entrypoint.sh" <<'SH'
#!/bin/sh
# The blog post's entrypoint: fake the boot, start the runlevel, wait for TERM.
mkdir -p /run/openrc
echo "$1" > /run/openrc/softlevel
openrc "$1"
trap 'openrc shutdown; exit 0' TERM INT
while :; do sleep 1; done
SH
chmod 0755 "$ROOT/bench/entrypoint.sh"
cp "$BIN" "$ROOT/usr/local/sbin/rcinit"
# RCINIT_BENCH_B=PATH: another build of rcinit, run in turns with this one (an A/B of two
# commits in the same run); its rows say B/rcinit.
[ -n "${RCINIT_BENCH_B:-}" ] && cp "$RCINIT_BENCH_B" "$ROOT/usr/local/sbin/rcinit-b"

# One boot of one kind: prints "kind n started_ms procs rss_kib pss_kib stop_ms exit".
once() {
	local kind=$1 n=$2 fd word ms hp ns p rss=0 pss=0 procs=0 t0 t1 status
	local cmd
	case $kind in
	openrc) cmd="/bench/entrypoint.sh bench$n" ;;
	rcinit) cmd="/usr/bin/env RCINIT_RUNLEVEL=bench$n /usr/local/sbin/rcinit" ;;
	rcinit_b) cmd="/usr/bin/env RCINIT_RUNLEVEL=bench$n /usr/local/sbin/rcinit-b" ;;
	s6) cmd="/usr/bin/s6-svscan /etc/s6-bench-$n" ;;
	supervisord) cmd="/usr/bin/supervisord -n -c /etc/supervisor-bench-$n.conf" ;;
	esac
	rm -f "$T/pid1"
	# shellcheck disable=SC2086
	exec {fd}< <("$EXECWATCH" --count "$n" --exact "/bin/busybox sleep 100000" --timeout 60 -- \
		unshare --pid --fork --mount --kill-child --propagation private -- /bin/sh -c '
			R=$1 P=$2 L=$3; shift 3
			exec >"$L" 2>&1
			read -r hp _ </proc/self/stat; echo "$hp" >"$P"
			mount -t proc proc "$R/proc" && mount -t tmpfs -o mode=0755 tmpfs "$R/run" &&
				mount --rbind /dev "$R/dev" &&
				exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
					HOSTNAME=bench HOME=/root chroot "$R" "$@"' bench "$ROOT" "$T/pid1" "$OUT/$kind-$n.log" $cmd)
	if ! read -r -u "$fd" word ms || [ "$word" != started ]; then
		echo "$kind with $n services: not all started (log: $OUT/$kind-$n.log)" >&2
		exit 1
	fi
	sleep "$SETTLE"
	hp=$(cat "$T/pid1")
	ns=$(readlink "/proc/$hp/ns/pid")
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/ns/pid" 2>/dev/null)" = "$ns" ] || continue
		[ "$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)" = "/bin/busybox sleep 100000 " ] && continue
		rss=$((rss + $(awk '$1 == "VmRSS:" { print $2 }' "$p/status" 2>/dev/null || echo 0)))
		pss=$((pss + $(awk '$1 == "Pss:" { s += $2 } END { print s + 0 }' "$p/smaps_rollup" 2>/dev/null || echo 0)))
		procs=$((procs + 1))
	done
	t0=$(date +%s%N)
	kill -TERM "$hp"
	read -r -u "$fd" word status || status="?"
	t1=$(date +%s%N)
	exec {fd}<&-
	echo "$kind $n $ms $procs $rss $pss $(((t1 - t0) / 1000)) $status"
}

KINDS="openrc rcinit s6 supervisord"
[ -n "${RCINIT_BENCH_B:-}" ] && KINDS="rcinit_b $KINDS"
for n in $SIZES; do for k in $KINDS; do once "$k" "$n" >/dev/null; done; done # warm the caches
: >"$OUT/supervisors.txt"
for run in $(seq 1 "$RUNS"); do
	for n in $SIZES; do
		for k in $KINDS; do once "$k" "$n" | tee -a "$OUT/supervisors.txt" >&2; done
	done
done

# Medians of a column for one kind and size.
med() { awk -v k="$1" -v n="$2" -v c="$3" '$1 == k && $2 == n { print $c }' "$OUT/supervisors.txt" | median; }
# Median of the per-run ratios alt/rcinit of a column (runs are interleaved, so pair them in order).
ratio() {
	paste <(awk -v k="$1" -v n="$2" -v c="$3" '$1 == k && $2 == n { print $c }' "$OUT/supervisors.txt") \
		<(awk -v n="$2" -v c="$3" '$1 == "rcinit" && $2 == n { print $c }' "$OUT/supervisors.txt") |
		awk '$2 > 0 { printf "%.2f\n", $1 / $2 }' | median
}
exits() { awk -v k="$1" -v n="$2" '$1 == k && $2 == n { print $8 }' "$OUT/supervisors.txt" | sort | uniq -c | awk '{ printf "%s%s x%s", (NR > 1 ? ", " : ""), $2, $1 }'; }
ms() { awk -v v="$1" 'BEGIN { printf "%.1f", v / 1000 }'; }
mib() { awk -v v="$1" 'BEGIN { printf "%.2f", v / 1024 }'; }

for n in $SIZES; do
	row "boot to all $n started, ms" "$(med rcinit "$n" 3)" \
		"OpenRC $(med openrc "$n" 3), s6 $(med s6 "$n" 3), supervisord $(med supervisord "$n" 3)" \
		"OpenRC/rcinit x$(ratio openrc "$n" 3), s6/rcinit x$(ratio s6 "$n" 3), supervisord/rcinit x$(ratio supervisord "$n" 3)" \
		"$([ "$n" -eq 100 ] && echo ">= x15 OpenRC, > x1 s6" || echo "-")"
done
for n in $SIZES; do
	[ "$n" -ge 20 ] || continue
	row "memory with $n services: PSS / RSS MiB (processes)" \
		"$(mib "$(med rcinit "$n" 6)") / $(mib "$(med rcinit "$n" 5)") ($(med rcinit "$n" 4))" \
		"OpenRC $(mib "$(med openrc "$n" 6)") / $(mib "$(med openrc "$n" 5)") ($(med openrc "$n" 4)), s6 $(mib "$(med s6 "$n" 6)") / $(mib "$(med s6 "$n" 5)") ($(med s6 "$n" 4)), supervisord $(mib "$(med supervisord "$n" 6)") / $(mib "$(med supervisord "$n" 5)") ($(med supervisord "$n" 4))" \
		"PSS: OpenRC/rcinit x$(ratio openrc "$n" 6), s6/rcinit x$(ratio s6 "$n" 6)" \
		"$([ "$n" -eq 100 ] && echo "< 4 MiB PSS" || echo "-")"
done
for n in $SIZES; do
	row "SIGTERM to PID 1 gone, $n services, ms (exit)" "$(ms "$(med rcinit "$n" 7)") ($(exits rcinit "$n"))" \
		"OpenRC $(ms "$(med openrc "$n" 7)") ($(exits openrc "$n")), s6 $(ms "$(med s6 "$n" 7)") ($(exits s6 "$n")), supervisord $(ms "$(med supervisord "$n" 7)") ($(exits supervisord "$n"))" \
		"OpenRC/rcinit x$(ratio openrc "$n" 7)" "-"
done
if [ -n "${RCINIT_BENCH_B:-}" ]; then
	for n in $SIZES; do
		row "A/B: boot to all $n started, ms; stop ms; PSS MiB" \
			"$(med rcinit "$n" 3); $(ms "$(med rcinit "$n" 7)"); $(mib "$(med rcinit "$n" 6)")" \
			"B ($RCINIT_BENCH_B) $(med rcinit_b "$n" 3); $(ms "$(med rcinit_b "$n" 7)"); $(mib "$(med rcinit_b "$n" 6)")" \
			"B/rcinit boot x$(ratio rcinit_b "$n" 3), stop x$(ratio rcinit_b "$n" 7), PSS x$(ratio rcinit_b "$n" 6)" "-"
	done
fi
