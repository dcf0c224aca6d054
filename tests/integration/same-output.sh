#!/usr/bin/env bash
# same-output.sh: a sample script prints the same in every tier as natively.
#
#   same-output.sh KILN KILND NATIVE WASM [ARGS...]
#
# Runs NATIVE ARGS, then `KILN run --tier T WASM ARGS` for T = cold, warm and
# hot, and fails unless every run exits with the native status and writes
# byte-identical stdout. The native run must itself succeed and print
# something, so a broken sample fails too. The compiled tiers must really be
# compiled: kiln starts the kilnd given (on a private runtime directory, so
# the user's own kilnd and cache are never touched) and must report mapping
# its package, with no warning.
set -euo pipefail

if (($# < 4)); then
  echo "usage: $0 KILN KILND NATIVE WASM [ARGS...]" >&2
  exit 2
fi
kiln=$1
export KILN_KILND=$2
native=$3
wasm=$4
shift 4

tmp=$(mktemp -d)
export XDG_RUNTIME_DIR=$tmp/run XDG_CACHE_HOME=$tmp/cache XDG_CONFIG_HOME=$tmp/config
mkdir -m 0700 "$tmp/run"
# Stops the kilnd that kiln started (its pid is in its log's first lines).
stop_kilnd() {
  local pid
  pid=$(sed -n 's/^kilnd\[\([0-9]*\)\]: listening.*/\1/p' "$tmp/run/kiln/kilnd.log" 2>/dev/null | head -n 1)
  if [[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null; then
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$tmp"
}
trap stop_kilnd EXIT

name=$(basename "$wasm" .wasm)
native_rc=0
"$native" "$@" >"$tmp/native.out" 2>"$tmp/native.err" || native_rc=$?
fail=0
if ((native_rc != 0)) || [[ ! -s $tmp/native.out ]]; then
  echo "FAIL $name: the native build exited $native_rc with $(wc -c <"$tmp/native.out") bytes of output"
  fail=1
fi

for tier in cold warm hot; do
  rc=0
  "$kiln" run --tier "$tier" --verbose "$wasm" "$@" >"$tmp/$tier.out" 2>"$tmp/$tier.err" || rc=$?
  bad=0
  if ((rc != native_rc)); then
    echo "FAIL $name --tier $tier: kiln exited $rc, native exited $native_rc"
    bad=1
  fi
  if ! cmp -s "$tmp/native.out" "$tmp/$tier.out"; then
    echo "FAIL $name --tier $tier: stdout differs (- native, + kiln):"
    diff -u "$tmp/native.out" "$tmp/$tier.out" | head -n 40 || true
    bad=1
  fi
  if [[ $tier != cold ]] && ! grep -q "^kiln: $tier tier: .* functions from kiln-" "$tmp/$tier.err"; then
    echo "FAIL $name --tier $tier: kiln did not report its $tier package"
    bad=1
  fi
  if grep -q "warning" "$tmp/$tier.err"; then
    echo "FAIL $name --tier $tier: kiln warned"
    bad=1
  fi
  if ((bad)); then
    echo "--- kiln stderr:"
    head -n 20 "$tmp/$tier.err"
    fail=1
  else
    echo "ok $name --tier $tier $*: $(wc -l <"$tmp/$tier.out") identical lines, exit status $rc"
    grep "^kiln: $tier tier" "$tmp/$tier.err" || true
  fi
done
exit $fail
