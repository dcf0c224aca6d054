#!/usr/bin/env bash
# check-embed.sh EMBED SQUARES.wasm: runs the embedding example and checks
# what it prints, line by line.
set -euo pipefail
out=$("$1" "$2" 3 4)
expect_1='sum_of_squares(3, 4) = 25 (host function called 2 times)'
expect_2='divide(3, 0) trapped: trap: integer divide by zero'
line_1=$(sed -n 1p <<<"$out")
line_2=$(sed -n 2p <<<"$out")
status=0
if [[ $line_1 != "$expect_1" ]]; then
  echo "FAIL line 1: got [$line_1], expected [$expect_1]"
  status=1
fi
# The rest of the trap line names the function; only its start is fixed.
if [[ $line_2 != "$expect_2"* ]]; then
  echo "FAIL line 2: got [$line_2], expected it to start with [$expect_2]"
  status=1
fi
if (($(wc -l <<<"$out") != 2)); then
  echo "FAIL: expected 2 lines, got:"
  echo "$out"
  status=1
fi
((status == 0)) && echo "ok: $out"
exit $status
