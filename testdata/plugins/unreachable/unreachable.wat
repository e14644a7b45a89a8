;; unreachable is a hostile guest: a valid plugin whose handle executes the
;; "unreachable" instruction, the trap every Wasm compiler emits for a
;; failed assertion or abort. The host must fail only this call.
(module
  (memory (export "memory") 2)
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "handle") (param i32 i32) (result i64) unreachable)
)
