;; Modules for test_interp.c: the cold tier's semantics and its fusions.
(module $ops
  (memory 1)
  (table 4 funcref)
  (type $ii (func (param i32) (result i32)))
  (elem (i32.const 0) $fib $inc)

  (func $fib (export "fib") (param i32) (result i32)
    (if (result i32) (i32.lt_s (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))

  (func $inc (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))

  ;; i = 0; do { i += 1 } while (i < n): the loop is two instructions.
  (func (export "count") (param i32) (result i32) (local i32)
    (loop $l
      (local.set 1 (i32.add (local.get 1) (i32.const 1)))
      (br_if $l (i32.lt_s (local.get 1) (local.get 0))))
    (local.get 1))

  (func (export "div_s") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "rem_s") (param i32 i32) (result i32) (i32.rem_s (local.get 0) (local.get 1)))
  (func (export "div_u_7") (param i32) (result i32) (i32.div_u (local.get 0) (i32.const 7)))
  (func (export "rem_s_m1") (param i32) (result i32) (i32.rem_s (local.get 0) (i32.const -1)))
  (func (export "div_s_m1") (param i32) (result i32) (i32.div_s (local.get 0) (i32.const -1)))
  (func (export "div_s64") (param i64 i64) (result i64) (i64.div_s (local.get 0) (local.get 1)))
  (func (export "trunc_s") (param f64) (result i32) (i32.trunc_f64_s (local.get 0)))
  (func (export "trunc_u64") (param f32) (result i64) (i64.trunc_f32_u (local.get 0)))
  (func (export "sat_s") (param f64) (result i32) (i32.trunc_sat_f64_s (local.get 0)))
  (func (export "fmin") (param f64 f64) (result f64) (f64.min (local.get 0) (local.get 1)))
  (func (export "fmax") (param f32 f32) (result f32) (f32.max (local.get 0) (local.get 1)))
  (func (export "nearest") (param f64) (result f64) (f64.nearest (local.get 0)))
  ;; c - a * b: one fused dispatch, but rounded twice (no FMA).
  (func (export "submul") (param f64 f64 f64) (result f64)
    (f64.sub (local.get 2) (f64.mul (local.get 0) (local.get 1))))
  (func (export "rotl") (param i32 i32) (result i32) (i32.rotl (local.get 0) (local.get 1)))
  (func (export "shl_big") (param i64) (result i64) (i64.shl (local.get 0) (i64.const 65)))
  (func (export "clz") (param i64) (result i64) (i64.clz (local.get 0)))
  (func (export "ext8") (param i32) (result i32) (i32.extend8_s (local.get 0)))
  (func (export "ge_u_const_left") (param i32) (result i32) (i32.ge_u (i32.const 10) (local.get 0)))
  (func (export "not_lt") (param i32 i32) (result i32)
    (i32.eqz (i32.lt_s (local.get 0) (local.get 1))))

  ;; Multi-value: a block with parameters and two results; swap through
  ;; a function returning two values.
  (func $swap (param i32 i32) (result i32 i32) (local.get 1) (local.get 0))
  (func (export "mv") (param i32 i32) (result i32)
    (local.get 0) (local.get 1)
    (call $swap)
    (block (param i32 i32) (result i32) (i32.sub))
  )
  ;; Returns its two parameters swapped, straight from the locals.
  (func (export "swap") (param i32 i32) (result i32 i32) (local.get 1) (local.get 0))

  (func (export "switch") (param i32) (result i32)
    (block $d (result i32)
      (block $c (result i32)
        (block $b (result i32)
          (block $a (result i32)
            (i32.const 100) (local.get 0) (br_table $a $b $c $d))
          (return (i32.add (i32.const 1))))
        (return (i32.add (i32.const 2))))
      (return (i32.add (i32.const 3))))
    (i32.add (i32.const 4)))

  ;; A value computed before a local changes must keep the old value.
  (func (export "tee_order") (param i32) (result i32)
    (local.get 0)
    (local.set 0 (i32.const 5))
    (i32.add (local.get 0)))

  ;; Memory: an address computed with i32.add of a constant wraps at 32 bits.
  (func (export "load_wrap") (param i32) (result i32)
    (i32.load (i32.add (local.get 0) (i32.const -4))))
  (func (export "store") (param i32 i32) (i32.store offset=4 (local.get 0) (local.get 1)))
  (func (export "load") (param i32) (result i32) (i32.load offset=4 (local.get 0)))
  (func (export "load8_s") (param i32) (result i32) (i32.load8_s (local.get 0)))
  (func (export "load16_u64") (param i32) (result i64) (i64.load16_u (local.get 0)))
  ;; base + (i << 2): one fused load.
  (func (export "index") (param i32 i32) (result i32)
    (i32.load (i32.add (local.get 0) (i32.shl (local.get 1) (i32.const 2)))))
  ;; (base + 16) + (i << 2), and 100 + (i << 2): one I32_ADDSHL_A each.
  (func (export "index_a") (param i32 i32) (result i32)
    (i32.load (i32.add (i32.add (local.get 0) (i32.const 16))
                       (i32.shl (local.get 1) (i32.const 2)))))
  (func (export "index_c") (param i32) (result i32)
    (i32.load (i32.add (i32.const 100) (i32.shl (local.get 0) (i32.const 2)))))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "size") (result i32) (memory.size))
  (func (export "fill") (param i32 i32 i32) (memory.fill (local.get 0) (local.get 1) (local.get 2)))
  (func (export "copy") (param i32 i32 i32) (memory.copy (local.get 0) (local.get 1) (local.get 2)))

  (func (export "icall") (param i32 i32) (result i32)
    (call_indirect (type $ii) (local.get 1) (local.get 0)))
  (func (export "table_size") (result i32) (table.size 0))
  (func (export "is_null") (param i32) (result i32) (ref.is_null (table.get 0 (local.get 0))))

  (func $deep (export "deep") (param i32) (result i32)
    (i32.add (call $deep (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))

  (func (export "unreachable_after_br") (result i32)
    (block (result i32)
      (br 0 (i32.const 7))
      (i32.const 1) (i32.add) (drop) (unreachable)))
)
