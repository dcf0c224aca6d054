;; test_api: imports memory, table, global and a function from "provider".
(module
  (import "provider" "mem" (memory 1))
  (import "provider" "tab" (table 2 funcref))
  (import "provider" "counter" (global $c (mut i32)))
  (import "provider" "read" (func $read (param i32) (result i32)))
  (type $r (func (result i32)))
  (func $eight (result i32) (i32.const 8))
  (elem (i32.const 1) $eight)
  (data (i32.const 100) "\2a")
  (func (export "bump") (global.set $c (i32.add (global.get $c) (i32.const 1))))
  (func (export "read_shared") (result i32) (call $read (i32.const 100)))
  (func (export "call_slot") (param i32) (result i32)
    (call_indirect (type $r) (local.get 0))))
