;; badsig is a hostile guest: it exports handle with the wrong signature
;; (i32) -> i32 instead of (i32, i32) -> i64, and imports a host function
;; that does not exist. The host must refuse to load it, naming both.
(module
  (import "arbiter" "exec" (func $exec (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "handle") (param i32) (result i32) (i32.const 0))
)
