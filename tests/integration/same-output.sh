#!/usr/bin/env bash
# same-output.sh: a sample script prints the same under kiln as natively.
#
#   same-output.sh KILN NATIVE WASM [ARGS...]
#
# Runs NATIVE ARGS and `KILN run --tier cold WASM ARGS`, and fails unless both
# exit with the same status and write byte-identical stdout. The native run
# must itself succeed and print something, so a broken sample fails too.
set -euo pipefail

if (($# < 3)); then
  echo "usage: $0 KILN NATIVE WASM [ARGS...]" >&2
  exit 2
fi
kiln=$1
native=$2
wasm=$3
shift 3

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

native_rc=0
"$native" "$@" >"$tmp/native.out" 2>"$tmp/native.err" || native_rc=$?
kiln_rc=0
"$kiln" run --tier cold "$wasm" "$@" >"$tmp/kiln.out" 2>"$tmp/kiln.err" || kiln_rc=$?

name=$(basename "$wasm" .wasm)
fail=0
if ((native_rc != 0)) || [[ ! -s $tmp/native.out ]]; then
  echo "FAIL $name: the native build exited $native_rc with $(wc -c <"$tmp/native.out") bytes of output"
  fail=1
fi
if ((kiln_rc != native_rc)); then
  echo "FAIL $name: kiln exited $kiln_rc, native exited $native_rc"
  fail=1
fi
if ! cmp -s "$tmp/native.out" "$tmp/kiln.out"; then
  echo "FAIL $name: stdout differs (- native, + kiln):"
  diff -u "$tmp/native.out" "$tmp/kiln.out" | head -n 40 || true
  fail=1
fi
if ((fail)); then
  echo "--- kiln stderr:"
  head -n 20 "$tmp/kiln.err"
  exit 1
fi
echo "ok $name $*: $(wc -l <"$tmp/kiln.out") identical lines, exit status $kiln_rc"
