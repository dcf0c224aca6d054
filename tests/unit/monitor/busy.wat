;; The monitor's test module: known counts of calls and loop iterations,
;; one function that burns CPU in one loop, a call_indirect site with a
;; dominant target, and a memory that grows.
(module
  (type $unary (func (param i32) (result i32)))
  (memory 1)
  (table funcref (elem $leaf $twice))
  (func $leaf (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3)))
  (func $twice (param i32) (result i32) (i32.shl (local.get 0) (i32.const 1)))

  ;; for i < n: acc += table[i % 4 == 3](i)   -- $leaf for 3 calls in 4
  (func $dispatch (export "dispatch") (param $n i32) (result i32) (local $i i32) (local $acc i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (i32.add (local.get $acc)
          (call_indirect (type $unary) (local.get $i)
            (i32.eq (i32.and (local.get $i) (i32.const 3)) (i32.const 3)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $acc))

  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))

  ;; for i < n: for j < 5: acc += leaf(j)   -- outer loop n times, inner 5n
  (func $nested (export "nested") (param $n i32) (result i32) (local $i i32) (local $j i32) (local $acc i32)
    (block $done
      (loop $outer
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $j (i32.const 0))
        (loop $inner
          (local.set $acc (i32.add (local.get $acc) (call $leaf (local.get $j))))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br_if $inner (i32.lt_u (local.get $j) (i32.const 5))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $outer)))
    (local.get $acc))

  ;; A value on the operand stack across the loop, and a result through it.
  (func $spin (export "spin") (param $n i64) (result i64) (local $x i64)
    (i64.const 7)
    (loop $l (param i64) (result i64)
      (local.set $x (i64.add (local.get $x) (i64.mul (local.get $n) (local.get $n))))
      (local.set $n (i64.sub (local.get $n) (i64.const 1)))
      (br_if $l (i64.ne (local.get $n) (i64.const 0))))
    (i64.add (local.get $x))))
