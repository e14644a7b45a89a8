;; oob is a hostile guest: handle passes the host a pointer past the end of
;; its memory (log of 100 bytes at 0xfffffff0). The host must refuse to read
;; it, failing only this call as a trap, not crash or read host memory.
(module
  (import "arbiter" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "handle") (param i32 i32) (result i64)
    (call $log (i32.const 2) (i32.const 0xfffffff0) (i32.const 100))
    (i64.const 0))
)
