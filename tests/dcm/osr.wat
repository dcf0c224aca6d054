;; On-stack replacement: each export loops, and calls $switch at one
;; iteration; the test's $switch gives the functions compiled code with OSR
;; entries (the interpreter's activation moves into it at the next loop
;; header) or, in the reference run, does nothing.
(module
  (import "test" "switch" (func $switch))
  (table 2 funcref)
  (elem (i32.const 1) $leaf)
  (memory 1)

  (func $leaf (param i32) (result i32) (i32.add (local.get 0) (i32.const 1000)))

  ;; Every value type in locals across the transfer.
  (func $types (export "types") (param $n i32) (result f64)
    (local $i i32) (local $a i64) (local $b f32) (local $c f64) (local $r funcref) (local $e externref)
    (local.set $r (ref.func $leaf))
    (loop $l
      (if (i32.eq (local.get $i) (i32.const 3)) (then (call $switch)))
      (local.set $a (i64.add (i64.mul (local.get $a) (i64.const 3)) (i64.extend_i32_u (local.get $i))))
      (local.set $b (f32.add (local.get $b) (f32.const 0.5)))
      (local.set $c (f64.add (f64.mul (local.get $c) (f64.const 1.5)) (f64.convert_i32_s (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (table.set 0 (i32.const 0) (local.get $r))
    (f64.add
      (f64.add (f64.convert_i64_s (local.get $a)) (f64.promote_f32 (local.get $b)))
      (f64.add (local.get $c)
        (f64.convert_i32_s
          (i32.add (call_indirect (param i32) (result i32) (local.get $i) (i32.const 0))
                   (ref.is_null (local.get $e)))))))

  ;; Values on the operand stack at the loop: one below it, one its parameter.
  (func $stack (export "stack") (param $n i64) (result i64) (local $x i64)
    (i64.const 100)
    (i64.const 7)
    (loop $l (param i64) (result i64)
      (if (i64.eq (local.get $n) (i64.const 5)) (then (call $switch)))
      (i64.add (i64.mul (local.get $n) (i64.const 3)))
      (local.set $n (i64.sub (local.get $n) (i64.const 1)))
      (br_if $l (i64.ne (local.get $n) (i64.const 0))))
    (i64.add))

  ;; A trap after the transfer names the function as the interpreter does.
  (func $trap (export "trap") (param $n i32) (result i32) (local $i i32)
    (loop $l
      (if (i32.eq (local.get $i) (i32.const 2)) (then (call $switch)))
      (i32.store (i32.const 0) (i32.div_s (i32.const 10) (i32.sub (i32.const 6) (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (i32.load (i32.const 0)))

  ;; Recursion: the deepest activation switches; every one above it moves
  ;; over at its next loop header, at its own depth.
  (func $rec (export "rec") (param $d i32) (result i32) (local $i i32) (local $acc i32)
    (loop $l
      (if (i32.and (i32.eqz (local.get $d)) (i32.eq (local.get $i) (i32.const 1)))
        (then (call $switch)))
      (if (i32.gt_u (local.get $d) (i32.const 0))
        (then (local.set $acc (i32.add (local.get $acc)
                (i32.mul (call $rec (i32.sub (local.get $d) (i32.const 1))) (i32.const 3))))))
      (local.set $acc (i32.add (local.get $acc) (local.get $i)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 4))))
    (local.get $acc))

  ;; Called from another function's loop: the transfer happens two frames down.
  (func $nested (export "nested") (param $n i32) (result i32) (local $i i32) (local $acc i32)
    (loop $l
      (local.set $acc (i32.add (local.get $acc) (call $stack_i32 (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $acc))
  (func $stack_i32 (param $k i32) (result i32)
    (i32.wrap_i64 (call $stack (i64.add (i64.extend_i32_u (local.get $k)) (i64.const 6))))))
