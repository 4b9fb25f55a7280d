#!/usr/bin/env bash
# check-static.sh BIN MAX_BYTES: BIN is a statically linked, stripped ELF of at most MAX_BYTES.
# Prints its size and type; exits 1 (naming what is wrong) otherwise. Used by `make static`/`arm`.
set -u
bin=$1 max=$2
[ -f "$bin" ] || { echo "check-static: $bin missing" >&2; exit 1; }
size=$(stat -c %s "$bin")
# The ELF has no PT_INTERP (no dynamic loader) and no DT_NEEDED (no shared libraries).
if LC_ALL=C readelf -lW "$bin" | grep -q "INTERP"; then
    echo "check-static: $bin asks for a dynamic loader" >&2; exit 1
fi
if LC_ALL=C readelf -dW "$bin" | grep -q "(NEEDED)"; then
    echo "check-static: $bin needs shared libraries" >&2; exit 1
fi
if LC_ALL=C readelf -SW "$bin" | grep -q "\.symtab"; then
    echo "check-static: $bin is not stripped" >&2; exit 1
fi
echo "$bin: static, stripped, $size bytes ($(awk -v s="$size" 'BEGIN {printf "%.2f", s/1048576}') MiB)"
if [ "$size" -gt "$max" ]; then
    echo "check-static: $bin is larger than $max bytes" >&2; exit 1
fi
