#!/usr/bin/env bash
# bad-input.sh: `kiln run` refuses bad files with exactly one error line.
#
#   bad-input.sh KILN SAMPLE.wasm NATIVE_EXECUTABLE
#
# Each case must exit non-zero (not by a signal), print nothing on stdout and
# exactly one line on stderr, starting with "kiln: ". The cases: a missing
# file, an empty file, a text file, an ELF executable, a wrong version, and a
# real sample module truncated at several points.
set -euo pipefail

if (($# != 3)); then
  echo "usage: $0 KILN SAMPLE.wasm NATIVE_EXECUTABLE" >&2
  exit 2
fi
kiln=$1
sample=$2
elf=$3

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

failures=0

# expect_refused LABEL FILE: runs kiln on FILE and checks how it failed.
expect_refused() {
  local label=$1 file=$2 rc=0 lines
  "$kiln" run --tier cold "$file" >"$tmp/out" 2>"$tmp/err" </dev/null || rc=$?
  lines=$(wc -l <"$tmp/err")
  local why=""
  if ((rc == 0)); then
    why="exited 0"
  elif ((rc >= 128)); then
    why="died with status $rc (signal $((rc - 128)))"
  elif [[ -s $tmp/out ]]; then
    why="wrote to stdout"
  elif [[ $lines -ne 1 ]] || [[ -n $(tail -c 1 "$tmp/err") ]]; then
    why="wrote $lines lines to stderr instead of one line"
  elif [[ $(head -c 6 "$tmp/err") != "kiln: " ]]; then
    why="error line does not start with 'kiln: '"
  fi
  if [[ -n $why ]]; then
    echo "FAIL $label: $why"
    echo "--- stderr:"
    head -n 10 "$tmp/err"
    failures=$((failures + 1))
  else
    echo "ok $label (exit $rc): $(cat "$tmp/err")"
  fi
}

expect_refused "missing file" "$tmp/no-such-file.wasm"

: >"$tmp/empty.wasm"
expect_refused "empty file" "$tmp/empty.wasm"

printf 'int main(void) { return 0; }\n' >"$tmp/text.wasm"
expect_refused "text file" "$tmp/text.wasm"

expect_refused "ELF executable" "$elf"

printf '\0asm\2\0\0\0' >"$tmp/version.wasm"
expect_refused "wrong binary version" "$tmp/version.wasm"

size=$(wc -c <"$sample")
for cut in 4 9 20 $((size / 3)) $((size / 2)) $((size - 1)); do
  head -c "$cut" "$sample" >"$tmp/cut-$cut.wasm"
  expect_refused "sample truncated to $cut of $size bytes" "$tmp/cut-$cut.wasm"
done

if ((failures)); then
  echo "$failures case(s) failed"
  exit 1
fi
