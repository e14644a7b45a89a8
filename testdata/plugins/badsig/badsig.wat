;; badsig is a hostile guest: it exports handle with the wrong signature
;; (i32) -> i32 instead of (i32, i32) -> i64, select as (i32) -> i64 instead
;; of (i32, i32) -> i32, and imports a host function that does not exist.
;; The host must refuse to load it, naming all three.
(module
  (import "arbiter" "exec" (func $exec (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "handle") (param i32) (result i32) (i32.const 0))
  (func (export "select") (param i32) (result i64) (i64.const 0))
)
