;; The hot loop of big FP32 JSON bodies in WebAssembly: readFloat32Elements of json-tensor-parser.ts, over a
;; body that was joined into this module's memory (float32-scanner.ts). Compiled by scripts/compile-wasm.mjs.
;; Same contract as the JS loop: reads elements shaped `-?(0|[1-9][0-9]{0,6})(\.[0-9]{1,24})?` with at most 18
;; significant digits, and their separators, into float32s at `out`, until the closing bracket or `cap`; stops
;; at the start of any other element (other shapes, errors, a value near a float32 midpoint) and leaves it to
;; the JS parser's exact scanNumber. Native i64 digits, 16 at a time (SIMD), and no branch on the sign or on
;; the digit count (printed floats vary in both; mispredictions cost more than the spare work): the detector
;; body's join + parse takes 0.44x the CPU of the JS loop's (2.29x, 8 alternating rounds, pinned).
;;
;; Memory (float32-scanner.ts fills the tables):
;;   0     f64[201]  10^-k, correctly rounded (Number(`1e-${k}`))
;;   2048  i64[17]   10^k
;;   4096  v128[17]  swizzle masks: a run of k digits moved to the top k lanes, zeros below
;;   8192  the body, then at least 32 zero bytes (no load past the body sees a digit), then the output.
(module
  (memory (export "memory") 1)
  ;; How many elements `out` holds after a call, and whether the call read the array to its closing bracket.
  (global $count (export "count") (mut i32) (i32.const 0))
  (global $ended (export "ended") (mut i32) (i32.const 0))

  (func (export "readFloat32Elements")
    (param $p i32) (param $out i32) (param $n i32) (param $cap i32) (result i32)
    (local $first i32) (local $c i32) (local $neg i32) (local $m i64) (local $sig i32) (local $exp i32)
    (local $cnt i32) (local $frac i32) (local $lz i32) (local $t v128) (local $v i64)
    (local $x f64) (local $margin f64) (local $low f32)
    (global.set $ended (i32.const 0))
    (block $done
      (loop $element
        (br_if $done (i32.ge_u (local.get $n) (local.get $cap)))
        (local.set $first (local.get $p))
        ;; The sign without a branch: half the numbers are negative, a branch on it mispredicts.
        (local.set $neg (i32.eq (i32.load8_u (local.get $p)) (i32.const 45)))
        (local.set $p (i32.add (local.get $p) (local.get $neg)))
        (local.set $c (i32.load8_u (local.get $p)))
        (local.set $m (i64.const 0))
        (local.set $sig (i32.const 0))
        (if (i32.eq (local.get $c) (i32.const 48))
          (then (local.set $p (i32.add (local.get $p) (i32.const 1))))
          (else
            (if (i32.ge_u (i32.sub (local.get $c) (i32.const 49)) (i32.const 9))
              (then (local.set $p (local.get $first)) (br $done)))
            ;; The run of up to eight ASCII digits at $p, eight bytes at once (SWAR): a byte is a digit when its
            ;; high nibble is 3 and adding 6 keeps it so. $cnt: how many; $v: the number they spell.
            (local.set $v (i64.load (local.get $p)))
            (local.set $cnt (i32.shr_u
              (i32.wrap_i64 (i64.ctz (i64.xor
                (i64.or
                  (i64.and (local.get $v) (i64.const 0xf0f0f0f0f0f0f0f0))
                  (i64.shr_u
                    (i64.and (i64.add (local.get $v) (i64.const 0x0606060606060606)) (i64.const 0xf0f0f0f0f0f0f0f0))
                    (i64.const 4)))
                (i64.const 0x3333333333333333))))
              (i32.const 3)))
            ;; The run's bytes moved to the top, '0's below (the first byte is the highest digit: little-endian).
            (local.set $v (select
              (i64.or
                (i64.shl (local.get $v) (i64.extend_i32_u (i32.shl (i32.sub (i32.const 8) (local.get $cnt)) (i32.const 3))))
                (i64.shr_u (i64.const 0x3030303030303030) (i64.extend_i32_u (i32.shl (local.get $cnt) (i32.const 3)))))
              (i64.const 0x3030303030303030)
              (local.get $cnt)))
            (local.set $v (i64.sub (local.get $v) (i64.const 0x3030303030303030)))
            (local.set $v (i64.add (i64.mul (local.get $v) (i64.const 10)) (i64.shr_u (local.get $v) (i64.const 8))))
            (local.set $v (i64.shr_u
              (i64.add
                (i64.mul (i64.and (local.get $v) (i64.const 0x000000FF000000FF)) (i64.const 0x000F424000000064))
                (i64.mul (i64.and (i64.shr_u (local.get $v) (i64.const 16)) (i64.const 0x000000FF000000FF))
                         (i64.const 0x0000271000000001)))
              (i64.const 32)))
            (local.set $m (local.get $v))
            (local.set $p (i32.add (local.get $p) (local.get $cnt)))
            (local.set $sig (local.get $cnt))
            (if (i32.eq (local.get $cnt) (i32.const 8))
              (then (local.set $p (local.get $first)) (br $done)))))
        (local.set $exp (i32.const 0))
        (if (i32.eq (i32.load8_u (local.get $p)) (i32.const 46))
          (then
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (local.set $frac (local.get $p))
            ;; Up to 16 fraction digits at once: their count, the run right-aligned, then pairs, fours, eights.
            (local.set $t (i8x16.sub (v128.load (local.get $p)) (i8x16.splat (i32.const 48))))
            (local.set $cnt (i32.ctz (i32.xor
              (i8x16.bitmask (i8x16.lt_u (local.get $t) (i8x16.splat (i32.const 10))))
              (i32.const -1))))
            ;; Leading zeros (0.00123) are not significant digits while the mantissa is still 0.
            (local.set $lz (select
              (i32.const 0)
              (i32.ctz (i32.or
                (i8x16.bitmask (i8x16.ne (local.get $t) (i8x16.splat (i32.const 0))))
                (i32.const 0x10000)))
              (i32.wrap_i64 (local.get $m))))
            (local.set $t (i8x16.swizzle (local.get $t)
              (v128.load (i32.add (i32.const 4096) (i32.shl (local.get $cnt) (i32.const 4))))))
            (local.set $t (i16x8.narrow_i32x4_u
              (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_u (local.get $t)) (v128.const i16x8 10 1 10 1 10 1 10 1))
              (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_u (local.get $t)) (v128.const i16x8 10 1 10 1 10 1 10 1))))
            (local.set $t (i32x4.dot_i16x8_s (local.get $t) (v128.const i16x8 100 1 100 1 100 1 100 1)))
            (local.set $t (i32x4.dot_i16x8_s
              (i16x8.narrow_i32x4_u (local.get $t) (local.get $t))
              (v128.const i16x8 10000 1 10000 1 10000 1 10000 1)))
            (local.set $m (i64.add
              (i64.mul (local.get $m) (i64.load (i32.add (i32.const 2048) (i32.shl (local.get $cnt) (i32.const 3)))))
              (i64.add
                (i64.mul (i64.extend_i32_u (i32x4.extract_lane 0 (local.get $t))) (i64.const 100000000))
                (i64.extend_i32_u (i32x4.extract_lane 1 (local.get $t))))))
            (local.set $p (i32.add (local.get $p) (local.get $cnt)))
            (local.set $sig (i32.add (local.get $sig) (i32.sub (local.get $cnt)
              (select (local.get $lz) (local.get $cnt) (i32.lt_u (local.get $lz) (local.get $cnt))))))
            ;; Always a second run, empty when the first ended before 16 digits: printed floats have 15 to 17,
            ;; and a branch on which mispredicts.
            ;; The run of up to eight ASCII digits at $p, eight bytes at once (SWAR): a byte is a digit when its
            ;; high nibble is 3 and adding 6 keeps it so. $cnt: how many; $v: the number they spell.
            (local.set $v (i64.load (local.get $p)))
            (local.set $cnt (i32.shr_u
              (i32.wrap_i64 (i64.ctz (i64.xor
                (i64.or
                  (i64.and (local.get $v) (i64.const 0xf0f0f0f0f0f0f0f0))
                  (i64.shr_u
                    (i64.and (i64.add (local.get $v) (i64.const 0x0606060606060606)) (i64.const 0xf0f0f0f0f0f0f0f0))
                    (i64.const 4)))
                (i64.const 0x3333333333333333))))
              (i32.const 3)))
            ;; The run's bytes moved to the top, '0's below (the first byte is the highest digit: little-endian).
            (local.set $v (select
              (i64.or
                (i64.shl (local.get $v) (i64.extend_i32_u (i32.shl (i32.sub (i32.const 8) (local.get $cnt)) (i32.const 3))))
                (i64.shr_u (i64.const 0x3030303030303030) (i64.extend_i32_u (i32.shl (local.get $cnt) (i32.const 3)))))
              (i64.const 0x3030303030303030)
              (local.get $cnt)))
            (local.set $v (i64.sub (local.get $v) (i64.const 0x3030303030303030)))
            (local.set $v (i64.add (i64.mul (local.get $v) (i64.const 10)) (i64.shr_u (local.get $v) (i64.const 8))))
            (local.set $v (i64.shr_u
              (i64.add
                (i64.mul (i64.and (local.get $v) (i64.const 0x000000FF000000FF)) (i64.const 0x000F424000000064))
                (i64.mul (i64.and (i64.shr_u (local.get $v) (i64.const 16)) (i64.const 0x000000FF000000FF))
                         (i64.const 0x0000271000000001)))
              (i64.const 32)))
            (local.set $m (i64.add
              (i64.mul (local.get $m) (i64.load (i32.add (i32.const 2048) (i32.shl (local.get $cnt) (i32.const 3)))))
              (local.get $v)))
            (local.set $p (i32.add (local.get $p) (local.get $cnt)))
            (local.set $sig (i32.add (local.get $sig) (local.get $cnt)))
            (if (i32.or (i32.eq (local.get $cnt) (i32.const 8)) (i32.eq (local.get $p) (local.get $frac)))
              (then (local.set $p (local.get $first)) (br $done)))
            (local.set $exp (i32.sub (local.get $frac) (local.get $p)))))
        ;; An exponent, a second dot or a digit after a leading 0: the JS parser's (grammar and exact value).
        ;; The byte after the number, read once: a comma (nearly always) needs no other test.
        (local.set $c (i32.load8_u (local.get $p)))
        (if (i32.ne (local.get $c) (i32.const 44))
          (then
            (if (i32.or
                  (i32.lt_u (i32.sub (local.get $c) (i32.const 48)) (i32.const 10))
                  (i32.or (i32.eq (i32.or (local.get $c) (i32.const 0x20)) (i32.const 101))
                          (i32.eq (local.get $c) (i32.const 46))))
              (then (local.set $p (local.get $first)) (br $done)))))
        (if (i64.eqz (local.get $m))
          (then (local.set $low (f32.const 0)))
          (else
            (if (i32.or (i32.gt_u (local.get $sig) (i32.const 18)) (i32.lt_s (local.get $exp) (i32.const -200)))
              (then (local.set $p (local.get $first)) (br $done)))
            ;; m < 10^18 converts with one rounding, 10^-k is rounded, and so is the product: 1.5 ulp at most.
            ;; The float32 is taken when the whole 2^-44 interval around x rounds to it (rounding is monotonic),
            ;; as the JS loop does; else the exact path decides.
            (local.set $x (f64.mul
              (f64.convert_i64_s (local.get $m))
              (f64.load (i32.shl (i32.sub (i32.const 0) (local.get $exp)) (i32.const 3)))))
            (local.set $margin (f64.mul (local.get $x) (f64.const 0x1p-44)))
            (local.set $low (f32.demote_f64 (f64.sub (local.get $x) (local.get $margin))))
            (if (f32.ne (local.get $low) (f32.demote_f64 (f64.add (local.get $x) (local.get $margin))))
              (then (local.set $p (local.get $first)) (br $done)))))
        (local.set $low (f32.reinterpret_i32 (i32.xor
          (i32.reinterpret_f32 (local.get $low))
          (i32.shl (local.get $neg) (i32.const 31)))))
        (f32.store (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 2))) (local.get $low))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        ;; The separator ($c, the byte after the number): a comma straight away (JSON.stringify's), else white
        ;; space, then `]` or `,`.
        (if (i32.ne (local.get $c) (i32.const 44))
          (then
            (block $spaceDone1
              (loop $space1
                (local.set $c (i32.load8_u (local.get $p)))
                (br_if $spaceDone1 (i32.eqz (i32.or
                  (i32.or (i32.eq (local.get $c) (i32.const 32)) (i32.eq (local.get $c) (i32.const 10)))
                  (i32.or (i32.eq (local.get $c) (i32.const 13)) (i32.eq (local.get $c) (i32.const 9))))))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (br $space1)))
            (if (i32.eq (local.get $c) (i32.const 93))
              (then
                (global.set $ended (i32.const 1))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (br $done)))
            (if (i32.ne (local.get $c) (i32.const 44))
              (then
                (local.set $n (i32.sub (local.get $n) (i32.const 1)))
                (local.set $p (local.get $first))
                (br $done)))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        ;; White space after the comma is rare (JSON.stringify writes none): one compare skips the loop.
        (if (i32.le_u (i32.load8_u (local.get $p)) (i32.const 32)) (then
        (block $spaceDone2
            (loop $space2
              (local.set $c (i32.load8_u (local.get $p)))
              (br_if $spaceDone2 (i32.eqz (i32.or
                (i32.or (i32.eq (local.get $c) (i32.const 32)) (i32.eq (local.get $c) (i32.const 10)))
                (i32.or (i32.eq (local.get $c) (i32.const 13)) (i32.eq (local.get $c) (i32.const 9))))))
              (local.set $p (i32.add (local.get $p) (i32.const 1)))
              (br $space2)))))
        (br $element)))
    (global.set $count (local.get $n))
    (local.get $p))

)
