#!/usr/bin/env bash
# Benchmark: `docker stop` (10 s grace) of the example stack (proxy, webapp, worker) in a real
# Docker engine, rcinit as PID 1 against what people write today, on the same image:
#   shell   `sh -c "httpd & worker & proxy & wait"` as the entrypoint (PID 1 ignores TERM);
#   trap    the same with `trap 'kill $(jobs -p); wait; exit 0' TERM`;
#   tini    tini (Debian's tini-static) -- the shell entrypoint.
# Each run: `docker run -d --network none`, wait until the stack is up (rcinit's "3 of 3 services
# started", or the worker's first job in the log), time the whole `docker stop`, read the exit code.
#   bench/docker.sh [RUNS]     (root; a Docker engine: ./dev.sh test or ./dev.sh bench start one)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
OUT=${BENCH_OUT:-$(mktemp -d /tmp/rcinit-bench.XXXXXX)}
. bench/lib.sh
bench_host_packages
bench_build
docker info >/dev/null 2>&1 || { echo "no Docker engine answers (./dev.sh bench starts one)" >&2; exit 1; }
T=$(mktemp -d /tmp/rcinit-bench-docker.XXXXXX)
# Names of this run's own: another run on the same engine keeps its containers and its image.
RUN_ID=$$-$(basename "$T")
IMAGE=rcinit/bench-stack:${RUN_ID,,}
trap 'docker rm -f $(docker ps -aq --filter "label=rcinit-bench=$RUN_ID") >/dev/null 2>&1 || true; docker rmi "$IMAGE" >/dev/null 2>&1 || true; rm -rf "$T"' EXIT

# The image: busybox-static, rcinit and the example stack through docker/setup.sh (as the
# Dockerfiles do), tini beside it.
R=$T/root
mkdir -p "$R"/{bin,sbin,proc,dev,etc}
cp /bin/busybox "$R/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$R/bin/$a"; done
ROOT=$R sh docker/setup.sh "$BIN" examples
cp "$(command -v tini-static)" "$R/sbin/tini"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\n' >"$R/etc/group"
tar -C "$R" -c . | docker import -c 'ENTRYPOINT ["/sbin/rcinit"]' - "$IMAGE" >/dev/null

STACK='busybox httpd -f -p 127.0.0.1:8080 -h /examples/www & /examples/bin/worker & /examples/bin/proxy http://127.0.0.1:8080/ & wait'
once() { # kind -> "kind ms exit"
	local kind=$1 c marker t0 t1
	c=rcinit-bench-$RUN_ID-$kind
	docker rm -f "$c" >/dev/null 2>&1 || true
	case $kind in
	rcinit) docker run -d --network none --label "rcinit-bench=$RUN_ID" --name "$c" "$IMAGE" >/dev/null
		marker="3 of 3 services started" ;;
	shell) docker run -d --network none --label "rcinit-bench=$RUN_ID" --name "$c" --entrypoint /bin/sh "$IMAGE" -c "$STACK" >/dev/null
		marker="processed job" ;;
	trap) docker run -d --network none --label "rcinit-bench=$RUN_ID" --name "$c" --entrypoint /bin/sh "$IMAGE" \
		-c "trap 'kill \$(jobs -p); wait; exit 0' TERM; $STACK" >/dev/null
		marker="processed job" ;;
	tini) docker run -d --network none --label "rcinit-bench=$RUN_ID" --name "$c" --entrypoint /sbin/tini "$IMAGE" \
		-- /bin/sh -c "$STACK" >/dev/null
		marker="processed job" ;;
	esac
	for _ in $(seq 1 200); do
		docker logs "$c" 2>&1 | grep "$marker" >/dev/null && break
		sleep 0.05
	done
	docker logs "$c" 2>&1 | grep "$marker" >/dev/null || { echo "$kind: the stack did not come up" >&2; docker logs "$c" >&2; exit 1; }
	t0=$(date +%s%N)
	timeout 60 docker stop "$c" >/dev/null || { echo "$kind: docker stop did not return in 60 s" >&2; exit 1; }
	t1=$(date +%s%N)
	echo "$kind $(((t1 - t0) / 1000000)) $(docker inspect -f '{{.State.ExitCode}}' "$c")"
	docker rm -f "$c" >/dev/null
}

: >"$OUT/docker.txt"
for _ in $(seq 1 "$RUNS"); do
	for k in rcinit shell trap tini; do once "$k" | tee -a "$OUT/docker.txt" >&2; done
done
med() { awk -v k="$1" '$1 == k { print $2 }' "$OUT/docker.txt" | median; }
exits() { awk -v k="$1" '$1 == k { print $3 }' "$OUT/docker.txt" | sort | uniq -c | awk '{ printf "%s%s x%s", (NR > 1 ? ", " : ""), $2, $1 }'; }
row "docker stop of the example stack, ms (exit codes)" "$(med rcinit) ($(exits rcinit))" \
	"shell entrypoint $(med shell) ($(exits shell)), shell with a TERM trap $(med trap) ($(exits trap)), tini + shell $(med tini) ($(exits tini))" \
	"shell/rcinit x$(awk -v a="$(med shell)" -v b="$(med rcinit)" 'BEGIN { printf "%.1f", a / b }'), tini/rcinit x$(awk -v a="$(med tini)" -v b="$(med rcinit)" 'BEGIN { printf "%.2f", a / b }')" \
	"exit 0, well inside the grace"
