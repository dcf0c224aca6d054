#!/usr/bin/env bash
# check-adapt.sh CASE ADAPT WORK.wasm KILND: runs the adaptive tiering
# example for 3 s, in a private XDG_RUNTIME_DIR and XDG_CACHE_HOME, and
# checks what it prints.
#   kilnd   with a kilnd of its own on a private endpoint: some function
#           goes hot, and the last interval's calls per second are at least
#           twice the first's (which the example's warm-up keeps interpreted)
#   absent  with no kilnd at the default endpoint: one warning line, and
#           the example runs to the end interpreted
set -uo pipefail
case=$1 adapt=$2 wasm=$3 kilnd=$4
tmp=$(mktemp -d)
kilnd_pid=
cleanup() {
  if [[ -n $kilnd_pid ]]; then
    kill "$kilnd_pid" 2>/dev/null
    wait "$kilnd_pid" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -m 700 "$tmp/run"
export XDG_RUNTIME_DIR=$tmp/run XDG_CACHE_HOME=$tmp/cache

status=0
check() { # check WHAT CONDITION...: one line, ok or FAIL
  local what=$1
  shift
  if "$@"; then
    echo "ok   $what"
  else
    echo "FAIL $what"
    status=1
  fi
}

args=("$wasm" 3)
if [[ $case == kilnd ]]; then
  endpoint=ipc://$tmp/kilnd.sock
  "$kilnd" --foreground --endpoint "$endpoint" </dev/null >/dev/null 2>"$tmp/kilnd.log" &
  kilnd_pid=$!
  for _ in $(seq 200); do
    grep -q 'listening on' "$tmp/kilnd.log" && break
    kill -0 "$kilnd_pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q 'listening on' "$tmp/kilnd.log"; then
    echo "FAIL kilnd did not start:"
    cat "$tmp/kilnd.log"
    exit 1
  fi
  args+=(--service "$endpoint")
fi

"$adapt" "${args[@]}" >"$tmp/out" 2>"$tmp/err"
rc=$?
out=$(<"$tmp/out") err=$(<"$tmp/err")
echo "$out"
[[ -n $err ]] && echo "stderr: $err"

# The calls/s column of the progress lines, first and last.
rates=$(awk '/ calls\/s /{print $3}' "$tmp/out")
first=$(head -n 1 <<<"$rates") last=$(tail -n 1 <<<"$rates")
expected=$(sed -n 's/.*(the first call returned \(-\?[0-9]*\))$/\1/p' "$tmp/out")

check "exit status 0 (got $rc)" test "$rc" -eq 0
check "at least 5 progress lines" test "$(wc -l <<<"$rates")" -ge 5
check "every call returned what the first did" \
  grep -qE "^[0-9]+ calls, every one returned ${expected:-none}\$" "$tmp/out"
check "the heat map's top regions are printed" grep -q '^hottest regions' "$tmp/out"
if [[ $case == kilnd ]]; then
  check "no warning" test -z "$err"
  check "some function went hot" grep -qE ' -> hot \(' "$tmp/out"
  check "last interval ($last calls/s) at least twice the first ($first)" \
    awk -v a="${first:-0}" -v b="${last:-0}" 'BEGIN { exit !(a > 0 && b >= 2 * a) }'
else
  check "exactly one warning line, naming the endpoint" \
    grep -qE '^adapt: warning: .*kilnd\.sock.*$' <<<"$err"
  check "... and nothing else on stderr" test "$(wc -l <<<"$err")" -eq 1
  check "no tier changes" test "$(grep -c ' -> ' "$tmp/out")" -eq 0
  check "everything ran interpreted" \
    test "$(grep ' calls/s ' "$tmp/out" | grep -vc 'hot 0  warm 0')" -eq 0
fi
exit $status
