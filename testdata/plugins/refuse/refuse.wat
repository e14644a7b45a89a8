;; refuse is a plugin whose select export refuses every entry, and which has
;; no describe to say what it holds. Given an entry, the host must discard
;; each instance, naming the entry; given none, it serves as usual.
(module
  (memory (export "memory") 2)

  ;; Output JSON at offset 1024 (15 bytes).
  (data (i32.const 1024) "{\"status\":\"ok\"}")

  ;; alloc(size i32) -> (ptr i32): one fixed buffer at 65536, for inputs
  ;; up to 64 KiB; 0 for larger ones.
  (func (export "alloc") (param $size i32) (result i32)
    (if (i32.gt_u (local.get $size) (i32.const 65536))
      (then (return (i32.const 0))))
    (i32.const 65536))

  ;; handle(ptr i32, len i32) -> (packed i64): 1024<<32 | 15
  (func (export "handle") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const 15)))

  ;; select(ptr i32, len i32) -> (status i32): 1, no such plugin
  (func (export "select") (param i32 i32) (result i32)
    (i32.const 1))
)
