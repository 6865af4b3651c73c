#!/usr/bin/env bash
# The two commands a newcomer needs (Debian/Ubuntu, as root):
#   ./dev.sh demo   build rcinit and boot the example stack under it as PID 1 (Ctrl-C stops it)
#   ./dev.sh test   install what the tests need, then run every test
#   ./dev.sh bench  the benchmarks against OpenRC, s6, supervisord, tini and cat, as one table
#   ./dev.sh dist   static release binaries for amd64 and arm64, tarballs, checksums, images
set -euo pipefail
cd "$(dirname "$0")"

MUSL=x86_64-unknown-linux-musl
ARM=aarch64-unknown-linux-musl
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
# Debian with the real OpenRC, for the differential tests; made once, kept outside the checkout.
DEBIAN_ROOTFS=${RCINIT_DEBIAN_ROOTFS:-/var/cache/rcinit/debian-openrc}
DAEMONS_ROOTFS=${RCINIT_DAEMONS_ROOTFS:-/var/cache/rcinit/debian-daemons}
# OpenRC 0.64 as Debian unstable ships it: the second reference (supervise-daemon's backoff).
OPENRC_SID_ROOTFS=${RCINIT_OPENRC_SID_ROOTFS:-/var/cache/rcinit/debian-openrc-sid}
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'dev.sh: %s\n' "$*" >&2; exit 1; }

need_root() {
	[ "$(id -u)" = 0 ] || die "the namespace tests and the demo need root (unshare --pid --mount, chroot)"
}

# Installs what building and testing need; each step only when it is missing.
deps() {
	need_root
	# Two runs at once (two benches, a bench and a test) would race in apt and debootstrap.
	local lock
	mkdir -p /var/lock
	exec {lock}>/var/lock/rcinit-deps.lock
	flock -w 1800 "$lock" || die "waited 30 min for another ./dev.sh to finish installing"
	add_targets "$MUSL" "$ARM"
	for c in rustfmt clippy; do
		if ! rustup component list --installed 2>/dev/null | grep "^$c" >/dev/null; then
			say "adding the Rust component $c"
			rustup component add "$c"
		fi
	done
	local pkgs=()
	[ -x /bin/busybox ] && /bin/busybox --list | grep -x httpd >/dev/null || pkgs+=(busybox-static)
	command -v unshare >/dev/null && command -v nsenter >/dev/null && command -v flock >/dev/null || pkgs+=(util-linux)
	command -v ip >/dev/null || pkgs+=(iproute2)
	command -v dot >/dev/null || pkgs+=(graphviz)
	command -v dockerd >/dev/null || pkgs+=(docker.io)
	command -v docker-compose >/dev/null || pkgs+=(docker-compose)
	# The arm64 build is tested under qemu-user; `file` says how a dist binary is linked.
	[ -x /usr/bin/qemu-aarch64-static ] || pkgs+=(qemu-user-static)
	command -v file >/dev/null || pkgs+=(file)
	{ [ -x "$DEBIAN_ROOTFS/sbin/openrc" ] && [ -x "$DAEMONS_ROOTFS/usr/bin/redis-server" ] &&
		[ -x "$OPENRC_SID_ROOTFS/sbin/openrc" ]; } ||
		{ command -v debootstrap >/dev/null && [ -f /usr/share/keyrings/debian-archive-keyring.gpg ]; } ||
		pkgs+=(debootstrap debian-archive-keyring)
	if [ ${#pkgs[@]} -gt 0 ]; then
		say "installing ${pkgs[*]}"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
	fi
	[ -x "$DEBIAN_ROOTFS/sbin/openrc" ] || make_debian_rootfs
	[ -x "$DAEMONS_ROOTFS/usr/bin/redis-server" ] || make_daemons_rootfs
	[ -x "$OPENRC_SID_ROOTFS/sbin/openrc" ] || make_openrc_sid_rootfs
	exec {lock}>&-
}

# Adds the Rust targets that are missing.
add_targets() {
	local t
	for t in "$@"; do
		# grep reads to the end (no -q): under pipefail an early exit is the writer's SIGPIPE.
		if ! rustup target list --installed 2>/dev/null | grep -x "$t" >/dev/null; then
			say "adding the Rust target $t"
			rustup target add "$t"
		fi
	done
}

# The demo needs only the musl target and busybox-static (its root is busybox and rcinit).
demo_deps() {
	need_root
	add_targets "$MUSL"
	if ! { [ -x /bin/busybox ] && /bin/busybox --list | grep -x httpd >/dev/null; }; then
		say "installing busybox-static"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null
	fi
	command -v unshare >/dev/null || die "unshare (util-linux) is missing"
}

# arm64 binaries run here through qemu-user: F (the interpreter opened now, so it works inside
# the tests' chroots) and P (argv[0] kept: rcinit is also its helpers, by the name it runs as).
register_qemu_arm64() {
	local mnt=/proc/sys/fs/binfmt_misc
	[ -e "$mnt/register" ] || mount -t binfmt_misc binfmt_misc "$mnt" || die "cannot mount binfmt_misc"
	if [ -e "$mnt/qemu-aarch64" ]; then
		grep -x enabled "$mnt/qemu-aarch64" >/dev/null && grep '^flags: .*F' "$mnt/qemu-aarch64" >/dev/null &&
			grep '^flags: .*P' "$mnt/qemu-aarch64" >/dev/null && return 0
		echo -1 >"$mnt/qemu-aarch64"
	fi
	local interp=/usr/libexec/qemu-binfmt/aarch64-binfmt-P
	[ -x "$interp" ] || interp=/usr/bin/qemu-aarch64-static
	printf '%s' ":qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:$interp:FP" >"$mnt/register"
}

# The apt mirror this machine is set up with (deb822 sources, then the classic list).
apt_mirror() {
	local m=""
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then
		m=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
	fi
	if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
		m=$(awk '$1 == "deb" && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list)
	fi
	# Not a Debian machine (an Ubuntu CI runner): Debian's own mirror.
	[ -n "$m" ] || m=http://deb.debian.org/debian
	echo "$m"
}

# Debootstraps Debian (SUITE, else this machine's suite) with PACKAGES into DIR, once, and makes the
# directories named after them inside; an interrupted run never takes DIR's place.
debootstrap_into() {
	local dir=$1 packages=$2 suite tmp d
	shift 2
	suite=${SUITE:-$(. /etc/os-release && if [ "${ID:-}" = debian ]; then echo "${VERSION_CODENAME:-bookworm}"; else echo bookworm; fi)}
	tmp="$dir.tmp"
	say "debootstrapping Debian $suite with $packages into $dir (once)"
	rm -rf "$tmp"
	mkdir -p "$(dirname "$dir")"
	debootstrap --variant=minbase --include="$packages" "$suite" "$tmp" "$(apt_mirror)" >"$tmp.log" 2>&1 ||
		{ tail -20 "$tmp.log" >&2; die "debootstrap failed (log: $tmp.log)"; }
	for d in "$@"; do mkdir -p "$tmp/$d"; done
	mv "$tmp" "$dir"
}

# Real OpenRC for the differential tests; the fixtures are bound over conf.d and rc.conf.d.
make_debian_rootfs() { debootstrap_into "$DEBIAN_ROOTFS" openrc,busybox-static etc/conf.d etc/rc.conf.d; }

# OpenRC 0.64 (Debian unstable), for what changed since 0.45 (0.62+: the respawn backoff).
make_openrc_sid_rootfs() { SUITE=sid debootstrap_into "$OPENRC_SID_ROOTFS" openrc,busybox-static etc/conf.d etc/rc.conf.d; }

# Real daemons as Debian ships them (nginx, redis), without OpenRC: what tests/real_daemons.rs
# boots under rcinit, in namespaces and in Docker.
make_daemons_rootfs() { debootstrap_into "$DAEMONS_ROOTFS" nginx-light,redis-server,busybox-static; }

release() {
	local t=${1:-$MUSL}
	cargo build --release --target "$t" >&2
	echo "target/$t/release/rcinit"
}

# A busybox-static root filesystem with rcinit and the examples, in $1.
make_rootfs() {
	local r=$1 bin=$2
	mkdir -p "$r"/{bin,sbin,proc,dev,tmp,run,etc,var}
	cp /bin/busybox "$r/bin/busybox"
	for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$r/bin/$a"; done
	cp "$bin" "$r/sbin/rcinit"
	cp -r examples "$r/examples"
	cp -r examples/init.d examples/conf.d examples/runlevels "$r/etc/"
}

cmd_demo() {
	demo_deps
	local bin
	bin=$(release)
	DEMO_ROOT=$(mktemp -d /tmp/rcinit-demo.XXXXXX)
	trap 'rm -rf "$DEMO_ROOT"' EXIT
	make_rootfs "$DEMO_ROOT" "$bin"
	say "booting the example stack under rcinit as PID 1 (Ctrl-C stops it)"
	# Own PID, mount and network namespaces: the stack's loopback ports are its own.
	unshare --pid --fork --mount --net --propagation private -- /bin/sh -c '
		set -e
		/bin/busybox ip link set lo up
		mount -t proc proc "$1/proc"
		mount -o rbind /dev "$1/dev"
		exec chroot "$1" /sbin/rcinit
	' demo "$DEMO_ROOT"
}

# An engine that is still starting, or still dying (an earlier run cut off), holds
# /var/run/docker.pid and makes a new dockerd refuse to start: wait for it to answer or
# to go (30 s), then drop the pidfile of a process that is gone. A dockerd that neither
# answers nor goes is stopped by the pid it wrote: dev.sh is what starts dockerd here.
settle_docker_pidfile() {
	local pidfile=/var/run/docker.pid pid
	[ -s "$pidfile" ] || return 0
	pid=$(head -c 16 "$pidfile" | tr -cd 0-9)
	# A pid reused by something else is no engine.
	if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ]; then
		say "a dockerd (pid $pid) holds $pidfile: waiting for it to answer or exit"
		for _ in $(seq 1 60); do
			[ -d "/proc/$pid" ] || break
			docker info >/dev/null 2>&1 && return 0
			sleep 0.5
		done
		if [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ]; then
			say "dockerd $pid neither answers nor exits: stopping it"
			kill -TERM "$pid" 2>/dev/null || true
			for _ in $(seq 1 40); do [ -d "/proc/$pid" ] || break; sleep 0.5; done
			[ -d "/proc/$pid" ] && kill -KILL "$pid" 2>/dev/null
			for _ in $(seq 1 20); do [ -d "/proc/$pid" ] || break; sleep 0.5; done
		fi
	fi
	if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != dockerd ]; then
		rm -f "$pidfile"
	fi
}

# A Docker engine for tests/docker.rs: no bridge, no iptables (containers run --network none).
start_docker() {
	docker info >/dev/null 2>&1 && return
	settle_docker_pidfile
	docker info >/dev/null 2>&1 && return
	say "starting dockerd --bridge=none --iptables=false"
	nohup dockerd --bridge=none --iptables=false --ip6tables=false >/tmp/rcinit-dockerd.log 2>&1 &
	for _ in $(seq 1 120); do
		docker info >/dev/null 2>&1 && return
		sleep 0.5
	done
	tail -20 /tmp/rcinit-dockerd.log >&2
	die "dockerd did not start (log: /tmp/rcinit-dockerd.log)"
}

cmd_test() {
	deps
	start_docker
	say "unit and namespace tests (static musl build)"
	# The reliability suite runs bench/orphans.rs; a filtered `cargo test` would not build it.
	cargo build -q --target "$MUSL" --example orphans
	cargo test --target "$MUSL" "$@"
	say "release build: static, stripped, and its size"
	local bin
	bin=$(release)
	if grep -q ld-linux "$bin"; then die "$bin is not statically linked"; fi
	echo "rcinit release binary: $(stat -c %s "$bin") bytes"
	[ $# -eq 0 ] && arm64_tests
	return 0
}

# The core namespace tests again, with the arm64 release binary run by qemu-user: boot, reap,
# ordered start and stop (SIGTERM and `rcinit shutdown`), status over the socket, CMD exit codes.
# Left out under emulation, each for what qemu-user does, not rcinit:
#  - spawn errors (cmd_that_does_not_exist_exits_127...): qemu-user turns CLONE_VM|CLONE_VFORK
#    into a plain fork, so the error is the child's to report, not the parent's;
#  - real-time signals (sigterm_with_a_long_cmd_exits_0_and_leaves_nothing sends SIGRTMIN+3):
#    qemu-user keeps some for itself and renumbers the others, and 37 never reached rcinit;
#  - the subreaper mode of thousand_orphans_leave_no_zombie (RCINIT_TEST_PID1_ONLY=1): the
#    orphans of an emulated subreaper were reaped by the namespace's shell, 0 counted by rcinit;
#    as PID 1 it reaps them all (the other tests keep both modes);
#  - the OpenRC images: rcinit binds /proc/self/exe over OpenRC's helpers, and under qemu-user
#    that names the emulator.
ARM64_TESTS=(
	cmd_exit_codes_propagate
	thousand_orphans_leave_no_zombie
	forwarded_signals_reach_the_cmd
	status_shows_each_service_in_text_and_json
	start_stop_restart_follow_the_needs
	shutdown_from_inside_exits_0
	the_example_stack_starts_in_dependency_order_and_stops_in_reverse
)
arm64_tests() {
	say "the arm64 build under qemu-user: ${#ARM64_TESTS[@]} core namespace tests"
	register_qemu_arm64
	local bin out
	bin=$(release "$ARM")
	file -L "$bin" | grep 'ARM aarch64' | grep 'statically linked' >/dev/null || die "$bin: $(file -L "$bin")"
	out=$("$bin" --version) || die "$bin --version does not run under qemu-user"
	case $out in *"$ARM"*) ;; *) die "$bin --version under qemu-user: $out" ;; esac
	echo "$out"
	local log=target/arm64-tests.log passed
	RCINIT_TEST_BIN=$PWD/$bin RCINIT_TEST_PID1_ONLY=1 cargo test --target "$MUSL" --test pid1 --test control --test supervise -- \
		--exact "${ARM64_TESTS[@]}" 2>&1 | tee "$log" >&2
	# Every one ran and passed: a filter that matched nothing would pass silently.
	passed=$(sed -n 's/^test result: ok\. \([0-9]*\) passed.*/\1/p' "$log" | awk '{ s += $1 } END { print s + 0 }')
	[ "$passed" = "${#ARM64_TESTS[@]}" ] || die "arm64 under qemu-user: $passed of ${#ARM64_TESTS[@]} tests passed"
	echo "arm64 under qemu-user: $passed of ${#ARM64_TESTS[@]} core tests passed"
}

# What users download: per architecture a static, stripped binary with its checksum, a tarball
# holding only sbin/rcinit (applets stay `rcinit install-applets`, which never overwrites), and
# a FROM-scratch image to COPY --from (single-architecture here: no buildx on this machine).
cmd_dist() {
	need_root
	add_targets "$MUSL" "$ARM"
	command -v file >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq file >/dev/null; }
	local t arch bin d stage tarball
	start_docker
	rm -rf dist
	mkdir -p dist
	for t in "$MUSL" "$ARM"; do
		case $t in
		x86_64-*) arch=amd64 ;;
		aarch64-*) arch=arm64 ;;
		esac
		say "release build for $t"
		bin=$(release "$t")
		file -L "$bin" | grep -E 'statically linked|static-pie linked' >/dev/null || die "$bin: $(file -L "$bin")"
		d=dist/$t
		mkdir -p "$d"
		cp "$bin" "$d/rcinit"
		(cd "$d" && sha256sum rcinit >rcinit.sha256)
		stage=$(mktemp -d)
		install -D -m 0755 "$bin" "$stage/sbin/rcinit"
		tarball=rcinit-$VERSION-linux-$arch.tar.gz
		tar --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$stage" -czf "dist/$tarball" sbin/rcinit
		rm -rf "$stage"
		(cd dist && sha256sum "$tarball" >"$tarball.sha256")
		# The binary alone too, named for its release and architecture.
		cp "$bin" "dist/rcinit-$VERSION-linux-$arch"
		(cd dist && sha256sum "rcinit-$VERSION-linux-$arch" >"rcinit-$VERSION-linux-$arch.sha256")
		echo "$d/rcinit: $(file -L -b "$d/rcinit" | cut -d, -f1-2,4-5), $(stat -c %s "$d/rcinit") bytes"
		docker build -q --platform "linux/$arch" -t "rcinit:$VERSION-$arch" -f - "$d" <docker/Dockerfile.scratch >/dev/null
		local platform
		platform=$(docker image inspect -f '{{.Os}}/{{.Architecture}}' "rcinit:$VERSION-$arch")
		[ "$platform" = "linux/$arch" ] || die "rcinit:$VERSION-$arch is labelled $platform"
		echo "image rcinit:$VERSION-$arch ($platform)"
	done
	ls -l dist
}

# The benchmark suite: every figure against the real alternatives, in one table.
cmd_bench() {
	deps
	start_docker
	bench/all.sh "$@"
}

case "${1:-}" in
demo) shift; cmd_demo "$@" ;;
bench) shift; cmd_bench "$@" ;;
test) shift; cmd_test "$@" ;;
dist) shift; cmd_dist ;;
deps) deps ;;
*) die "usage: ./dev.sh demo | test [cargo test args] | bench [RUNS] | dist | deps" ;;
esac
