#!/bin/sh
# Installs rcinit and the example stack into an image: run by Dockerfile.alpine and
# Dockerfile.gentoo at build time, and by the tests on the root filesystems they import into
# Docker, so what is tested is what ships.
#
#   setup.sh [--init] RCINIT_BINARY EXAMPLES_DIR
#
# ROOT (default empty: the running system) installs into another root filesystem instead.
# --init also makes /sbin/init rcinit (the drop-in init of Gentoo-style images).
set -eu
init=no
if [ "${1:-}" = --init ]; then
	init=yes
	shift
fi
[ $# -eq 2 ] || { echo "usage: setup.sh [--init] RCINIT_BINARY EXAMPLES_DIR" >&2; exit 2; }
bin=$1 ex=$2 R=${ROOT:-}

mkdir -p "$R/sbin" "$R/etc/init.d" "$R/etc/conf.d" "$R/etc/runlevels/default" "$R/examples" \
	"$R/var/log" "$R/run" "$R/tmp"
cp "$bin" "$R/sbin/rcinit"
chmod 0755 "$R/sbin/rcinit"
# Everyone may create files in /tmp (rcinit's control socket falls back there for a non-root USER).
chmod 1777 "$R/tmp"
cp -R "$ex/." "$R/examples/"
for s in webapp worker proxy; do
	cp "$ex/init.d/$s" "$R/etc/init.d/$s"
	chmod 0755 "$R/etc/init.d/$s"
	ln -sf "/etc/init.d/$s" "$R/etc/runlevels/default/$s"
done
cp "$ex/conf.d/webapp" "$R/etc/conf.d/webapp"
# The applets, for images without OpenRC's tools; never over an existing file.
for a in rc-status rc-service openrc-run halt poweroff reboot shutdown telinit; do
	[ -e "$R/sbin/$a" ] || [ -e "$R/bin/$a" ] || [ -e "$R/usr/sbin/$a" ] || [ -e "$R/usr/bin/$a" ] ||
		ln -s rcinit "$R/sbin/$a"
done
if [ "$init" = yes ]; then
	ln -sf rcinit "$R/sbin/init"
fi
