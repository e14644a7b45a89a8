;; minimal is a complete ABI v1 plugin in hand-written WebAssembly text, with
;; no language runtime: proof that plugins/ABI.md is enough to write a guest,
;; and the baseline for measuring the host's own overhead.
;;
;; alloc hands out one fixed buffer at 64 KiB, growing memory to fit; handle
;; ignores its input and answers {"status":"ok"}; describe reports who it is.
(module
  (memory (export "memory") 2)

  ;; Output JSON at offset 1024 (15 bytes).
  (data (i32.const 1024) "{\"status\":\"ok\"}")
  ;; Describe JSON at offset 2048 (62 bytes).
  (data (i32.const 2048) "{\"abi\":1,\"name\":\"minimal\",\"kind\":\"notifier\",\"version\":\"1.0.0\"}")

  ;; alloc(size i32) -> (ptr i32): the input buffer at 65536, memory grown to
  ;; hold size bytes; 0 if it cannot grow.
  (func (export "alloc") (param $size i32) (result i32)
    (local $need i32)
    ;; pages needed = (65536 + size + 65535) / 65536
    (local.set $need
      (i32.shr_u (i32.add (local.get $size) (i32.const 131071)) (i32.const 16)))
    (if (i32.gt_u (local.get $need) (memory.size))
      (then
        (if (i32.eq (memory.grow (i32.sub (local.get $need) (memory.size))) (i32.const -1))
          (then (return (i32.const 0))))))
    (i32.const 65536))

  ;; handle(ptr i32, len i32) -> (packed i64): 1024<<32 | 15
  (func (export "handle") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const 15)))

  ;; describe() -> (packed i64): 2048<<32 | len
  (func (export "describe") (result i64)
    (i64.or (i64.shl (i64.const 2048) (i64.const 32)) (i64.const 62)))
)
