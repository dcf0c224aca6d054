;; test_api: the instance another one links to (registered as "provider").
(module
  (memory (export "mem") 1)
  (table (export "tab") 2 funcref)
  (global (export "counter") (mut i32) (i32.const 7))
  (func $seven (result i32) (i32.const 7))
  (elem (i32.const 0) $seven)
  (func (export "read") (param i32) (result i32)
    (i32.load8_u (local.get 0)))
  (func (export "get_counter") (result i32)
    (global.get 0)))
