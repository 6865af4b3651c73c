# Shared by the bench/*.sh scripts (sourced, bash).
MUSL=x86_64-unknown-linux-musl
DEBIAN_ROOTFS=${RCINIT_DEBIAN_ROOTFS:-/var/cache/rcinit/debian-openrc}

# The release binary and the static helpers (bench/execwatch.rs, bench/orphans.rs).
bench_build() {
	cargo build -q --release --target "$MUSL" --bin rcinit --example execwatch --example orphans >&2
	BIN=$PWD/target/$MUSL/release/rcinit
	EXECWATCH=$PWD/target/$MUSL/release/examples/execwatch
	ORPHANS=$PWD/target/$MUSL/release/examples/orphans
}

# Debian's packages of the alternatives on this machine (tini-static for the PID 1 comparisons).
bench_host_packages() {
	command -v tini-static >/dev/null && return
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tini >/dev/null
}

# The Debian rootfs with real OpenRC (./dev.sh deps makes it), plus Debian's s6 and supervisor,
# copied once to a cache of its own: the benchmarks write their services into it.
bench_debian_root() {
	local r=/var/cache/rcinit/bench-root
	mkdir -p /var/cache/rcinit
	# Two runs started together: one builds the cache, the other waits for it.
	exec {lock}>/var/cache/rcinit/bench-root.lock
	flock -w 1800 "$lock" || { echo "bench: waited 30 min for another run to build $r" >&2; exit 1; }
	if [ ! -x "$r/usr/bin/s6-svscan" ] || [ ! -x "$r/usr/bin/supervisord" ]; then
		[ -x "$DEBIAN_ROOTFS/sbin/openrc" ] || { echo "no OpenRC rootfs at $DEBIAN_ROOTFS: run ./dev.sh deps" >&2; exit 1; }
		echo "bench: copying the OpenRC rootfs and installing s6 and supervisor into it (once)" >&2
		rm -rf "$r.tmp"
		cp -a "$DEBIAN_ROOTFS" "$r.tmp"
		cp /etc/resolv.conf "$r.tmp/etc/resolv.conf"
		# Packages must not start their services at install time.
		printf '#!/bin/sh\nexit 101\n' >"$r.tmp/usr/sbin/policy-rc.d"
		chmod 0755 "$r.tmp/usr/sbin/policy-rc.d"
		unshare --mount --propagation private -- /bin/sh -c '
			mount -t proc proc "$1/proc" && mount --rbind /dev "$1/dev" &&
			chroot "$1" apt-get update -qq &&
			chroot "$1" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends s6 supervisor' \
			bench "$r.tmp" >"$r.log" 2>&1 || { tail -20 "$r.log" >&2; exit 1; }
		grep -q '^rc_cgroup_mode="none"' "$r.tmp/etc/rc.conf" || echo 'rc_cgroup_mode="none"' >>"$r.tmp/etc/rc.conf"
		mkdir -p "$r.tmp/usr/local/sbin"
		mv "$r.tmp" "$r"
	fi
	exec {lock}>&-
	echo "$r"
}

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# One row of the bench table: what, rcinit, the alternatives (same run), the ratio, the target.
row() {
	printf '| %s | %s | %s | %s | %s |\n' "$@" | tee -a "${OUT:?}/rows.md"
}
