#!/usr/bin/env bash
# Benchmark: the cost of asking PID 1, from inside the container, as `docker exec` and a
# HEALTHCHECK do: `rcinit check`, `rcinit status --json` and the real OpenRC `rc-status`
# (reading the state rcinit mirrors), against `/bin/true` (the floor: one exec), N times each,
# in the Debian rootfs with 20 supervised services up under rcinit as PID 1.
#   bench/status.sh [N]      (root; ./dev.sh deps first)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200}
ROOTFS=${RCINIT_DEBIAN_ROOTFS:-/var/cache/rcinit/debian-openrc}
[ -x "$ROOTFS/sbin/openrc" ] || { echo "no OpenRC rootfs at $ROOTFS: run ./dev.sh deps" >&2; exit 1; }
cargo build --release --target x86_64-unknown-linux-musl >&2
BIN=$PWD/target/x86_64-unknown-linux-musl/release/rcinit

F=$(mktemp -d /tmp/rcinit-bench.XXXXXX)
trap 'rm -rf "$F"' EXIT
mkdir -p "$F"/{init.d,conf.d,runlevels/default,out}
for i in $(seq 1 20); do
	printf '#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sleep\ncommand_args=100000\n' >"$F/init.d/s$i"
	chmod +x "$F/init.d/s$i"
	ln -s "/etc/init.d/s$i" "$F/runlevels/default/s$i"
done
cp "$BIN" "$F/out/rcinit"

# The namespace's init writes its own host pid: that pid, and only it, is signalled below.
timeout -s KILL 600 unshare --pid --fork --mount --kill-child --propagation private /bin/sh -c '
R=$1 F=$2
read -r hp _ </proc/self/stat; echo "$hp" >"$F/pid1"
for d in init.d conf.d runlevels; do mount --bind "$F/$d" "$R/etc/$d"; done
mount --bind "$F/out" "$R/mnt"
mount -t proc proc "$R/proc"
exec chroot "$R" /mnt/rcinit' bench "$ROOTFS" "$F" 2>"$F/log" &
JOB=$!
for _ in $(seq 1 100); do grep -q "services started" "$F/log" 2>/dev/null && break; sleep 0.1; done
grep -q "services started" "$F/log" || { echo "rcinit did not start its services in 10 s:" >&2; cat "$F/log" >&2; exit 1; }
PID=$(cat "$F/pid1")
# One rc-status first: it caches OpenRC's deptree.
nsenter -t "$PID" -m -p -r -w -- rc-status >/dev/null
ms() { # command... -> milliseconds per run, N runs inside the container
	local ns
	ns=$(nsenter -t "$PID" -m -p -r -w -- /bin/bash -c '
		n=$1; shift; s=$(date +%s%N)
		for _ in $(seq 1 "$n"); do "$@" >/dev/null 2>&1 || [ $? -le 1 ] || exit 1; done
		e=$(date +%s%N); echo $((e - s))' ms "$N" "$@")
	echo "scale=3; $ns / 1000000 / $N" | bc
}
t=$(ms /bin/true)
c=$(ms /mnt/rcinit check)
s=$(ms /mnt/rcinit status --json)
r=$(ms rc-status)
echo "per call over $N calls, 20 services up:"
echo "  /bin/true              $t ms"
echo "  rcinit check           $c ms   ($(echo "scale=1; $c / $t" | bc)x true)"
echo "  rcinit status --json   $s ms   ($(echo "scale=1; $s / $t" | bc)x true)"
echo "  rc-status (OpenRC)     $r ms   ($(echo "scale=1; $r / $t" | bc)x true)"
kill -TERM "$PID"
wait "$JOB" || true
grep -q "exit code 0" "$F/log" || { echo "rcinit did not stop cleanly" >&2; exit 1; }
