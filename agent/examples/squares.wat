;; squares.wat: the module the example-embed test gives embed.c. It imports
;; one host function and exports a function that calls it twice.
(module
  (import "host" "square" (func $square (param i32) (result i32)))
  (func (export "sum_of_squares") (param $a i32) (param $b i32) (result i32)
    (i32.add (call $square (local.get $a)) (call $square (local.get $b))))
  ;; Traps (integer divide by zero) when $d is 0: errors are reported too.
  (func (export "divide") (param $n i32) (param $d i32) (result i32)
    (i32.div_s (local.get $n) (local.get $d))))
