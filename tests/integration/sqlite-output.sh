#!/usr/bin/env bash
# sqlite-output.sh: all of SQLite prints the same under `kiln run` as natively.
#
#   sqlite-output.sh KILN FETCH BUILD OUT_DIR SCALE
#
# FETCH and BUILD are bench/sqlite/fetch and bench/sqlite/build: the first gets
# SQLite's amalgamation into the user's cache (once), the second compiles the
# bench's SQL driver with it, natively and to wasm32-wasi, into OUT_DIR (once
# per build directory, about 20 s; bench/run uses the same files). Then runs
# the driver at SCALE natively and under `KILN run --tier cold`, and fails
# unless both exit 0 with byte-identical stdout. Exits 77 (skipped) with one
# line when SQLite is not in the cache and cannot be fetched.
set -euo pipefail

if (($# != 5)); then
  echo "usage: $0 KILN FETCH BUILD OUT_DIR SCALE" >&2
  exit 2
fi
kiln=$1
fetch=$2
build=$3
out=$4
scale=$5

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! src=$("$fetch" 2>"$tmp/fetch.err"); then
  echo "SKIP sqlite-output: SQLite is not available: $(tail -n 1 "$tmp/fetch.err")"
  exit 77
fi
"$build" "$src" "$out"

# kiln gets a runtime and cache directory of its own, never the user's.
export XDG_RUNTIME_DIR=$tmp/run XDG_CACHE_HOME=$tmp/cache
mkdir -m 0700 "$tmp/run"

native_rc=0
"$out/sqlite-native" "$scale" >"$tmp/native.out" 2>"$tmp/native.err" || native_rc=$?
if ((native_rc != 0)) || [[ ! -s $tmp/native.out ]]; then
  echo "FAIL sqlite: the native build exited $native_rc: $(head -n 1 "$tmp/native.err")"
  exit 1
fi

rc=0
start=$EPOCHREALTIME
"$kiln" run --tier cold "$out/sqlite.wasm" "$scale" >"$tmp/cold.out" 2>"$tmp/cold.err" || rc=$?
seconds=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
if ((rc != 0)); then
  echo "FAIL sqlite --tier cold: kiln exited $rc: $(head -n 1 "$tmp/cold.err")"
  exit 1
fi
if ! cmp -s "$tmp/native.out" "$tmp/cold.out"; then
  echo "FAIL sqlite --tier cold: stdout differs (- native, + kiln):"
  diff -u "$tmp/native.out" "$tmp/cold.out" | head -n 40 || true
  exit 1
fi
echo "ok sqlite --tier cold $scale: $(wc -l <"$tmp/cold.out") identical lines in ${seconds} s," \
  "$(tail -n 1 "$tmp/cold.out")"
