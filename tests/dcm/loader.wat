;; The module test_loader.c has kilnd "compile": an import, so that defined
;; functions do not start at index 0, a direct call, recursion, and a call
;; through the table that a package must resolve at run time; a load, which
;; hot code does without a bounds check.
(module
  (type $bin (func (param i32 i32) (result i32)))
  (import "env" "twice" (func $twice (param i32) (result i32)))
  (table 2 funcref)
  (memory 1)
  (elem (i32.const 0) $add $mul)

  (func $add (export "add") (type $bin) (i32.add (local.get 0) (local.get 1)))
  (func $mul (type $bin) (i32.mul (local.get 0) (local.get 1)))
  (func $fib (export "fib") (param i32) (result i32)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
  ;; twice(table[op](a, b))
  (func (export "apply") (param $op i32) (param $a i32) (param $b i32) (result i32)
    (call $twice
      (call_indirect (type $bin) (local.get $a) (local.get $b) (local.get $op))))
  (func (export "peek") (param i32) (result i32) (i32.load (local.get 0))))
