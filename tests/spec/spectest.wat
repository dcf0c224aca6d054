;; The "spectest" module the official test scripts import from, minus the
;; print functions (kiln-spec defines those as host functions under the same
;; module name). Values as the reference interpreter defines them.
(module
  (global (export "global_i32") i32 (i32.const 666))
  (global (export "global_i64") i64 (i64.const 666))
  (global (export "global_f32") f32 (f32.const 666.6))
  (global (export "global_f64") f64 (f64.const 666.6))
  (table (export "table") 10 20 funcref)
  (memory (export "memory") 1 2))
