;; work.wat: the module the example-adapt test gives adapt.c. Its export
;; "work" does a few milliseconds of real work per call in the interpreter:
;; it fills a 64 KiB buffer in linear memory with pseudo-random words and
;; hashes it, feeding each round's hash into the next round's seed. The
;; result depends on nothing but the code, so every call, in every tier,
;; must return the same value.
(module
  (memory (export "memory") 1)

  ;; One xorshift32 step: the buffer's contents.
  (func $next (param $x i32) (result i32)
    (local.set $x (i32.xor (local.get $x) (i32.shl (local.get $x) (i32.const 13))))
    (local.set $x (i32.xor (local.get $x) (i32.shr_u (local.get $x) (i32.const 17))))
    (i32.xor (local.get $x) (i32.shl (local.get $x) (i32.const 5))))

  ;; Fills $n words from address 0, starting from $seed.
  (func $fill (param $seed i32) (param $n i32)
    (local $i i32) (local $x i32)
    (local.set $x (i32.or (local.get $seed) (i32.const 1))) ;; xorshift never leaves 0
    (loop $words
      (local.set $x (call $next (local.get $x)))
      (i32.store (i32.shl (local.get $i) (i32.const 2)) (local.get $x))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $words (i32.lt_u (local.get $i) (local.get $n)))))

  ;; One MurmurHash3 step: the word $w into the hash $h.
  (func $mix (param $h i32) (param $w i32) (result i32)
    (local.set $w (i32.mul (local.get $w) (i32.const 0xcc9e2d51)))
    (local.set $w (i32.rotl (local.get $w) (i32.const 15)))
    (local.set $w (i32.mul (local.get $w) (i32.const 0x1b873593)))
    (local.set $h (i32.rotl (i32.xor (local.get $h) (local.get $w)) (i32.const 13)))
    (i32.add (i32.mul (local.get $h) (i32.const 5)) (i32.const 0xe6546b64)))

  ;; The hash of the $n words from address 0: the hot inner loop, one call
  ;; of $mix per word (which the hot tier inlines), then MurmurHash3's final mix.
  (func $checksum (param $h i32) (param $n i32) (result i32)
    (local $i i32)
    (loop $words
      (local.set $h (call $mix (local.get $h)
                               (i32.load (i32.shl (local.get $i) (i32.const 2)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $words (i32.lt_u (local.get $i) (local.get $n))))
    (local.set $h (i32.xor (local.get $h) (local.get $n)))
    (local.set $h (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 16))))
    (local.set $h (i32.mul (local.get $h) (i32.const 0x85ebca6b)))
    (local.set $h (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 13))))
    (local.set $h (i32.mul (local.get $h) (i32.const 0xc2b2ae35)))
    (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 16))))

  ;; 8 rounds over all 16384 words of the one page.
  (func $work (export "work") (result i32)
    (local $h i32) (local $round i32)
    (local.set $h (i32.const 0x2545f491))
    (loop $rounds
      (call $fill (local.get $h) (i32.const 16384))
      (local.set $h (call $checksum (local.get $h) (i32.const 16384)))
      (local.set $round (i32.add (local.get $round) (i32.const 1)))
      (br_if $rounds (i32.lt_u (local.get $round) (i32.const 8))))
    (local.get $h)))
