;; test_api: instantiation fails: the second data segment is out of bounds,
;; after the first has been written into the imported memory.
(module
  (import "provider" "mem" (memory 1))
  (data (i32.const 200) "\01")
  (data (i32.const 65535) "\02\03"))
