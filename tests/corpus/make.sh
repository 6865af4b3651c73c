#!/bin/sh
# Regenerates the seed corpus of tests/fuzz.rs from real sources: the shim's record stream for
# the example scripts (the real shim, run by busybox sh), a real sysvinit `telinit 0` request.
# The control requests and mountinfo seeds are written by hand in the exact wire formats.
set -eu
cd "$(dirname "$0")/../.."
for s in webapp worker proxy; do
	busybox sh -c "$(cat src/script/shim.sh)" rcinit-eval both default "$PWD/examples/init.d" "$s" \
		"$PWD/examples/init.d/$s" 9>"tests/corpus/records/$s.rec" >/dev/null 2>&1
done
# struct init_request: magic 0x03091969, cmd 1 (runlevel), runlevel '0', sleeptime 5, 368 bytes of data.
python3 -c 'import struct,sys; sys.stdout.buffer.write(struct.pack("<iii i", 0x03091969, 1, ord("0"), 5) + bytes(368))' \
	>tests/corpus/initctl/telinit-0.bin
