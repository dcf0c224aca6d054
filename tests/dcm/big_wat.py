#!/usr/bin/env python3
"""Writes big.wat: one exported function, $big, whose body is larger than
the DCM's DCM_BIG_BODY_BYTES, so that it compiles with the options for big
functions. Its blocks mix arithmetic, branches and stores to memory, and it
ends with a load at its second argument, which traps when that is out of
bounds (after every store)."""
import sys

BLOCKS = 480

out = ["(module", '  (memory (export "mem") 1)',
       '  (func $big (export "big") (param i32 i32) (result i32) (local i32)']
for k in range(BLOCKS):
    out.append(f"    (local.set 0 (i32.add (i32.mul (local.get 0) (i32.const {2 * k + 1}))"
               f" (i32.const {k})))")
    out.append(f"    (if (i32.and (local.get 0) (i32.const {1 << (k % 31)}))"
               f" (then (local.set 2 (i32.xor (local.get 2) (local.get 0)))))")
    out.append(f"    (i32.store (i32.const {4 * (k % 1024)}) (local.get 2))")
out.append("    (i32.add (local.get 2) (i32.load (local.get 1))))")
out.append(")")
sys.stdout.write("\n".join(out) + "\n")
