// Small helpers shared by framechain's wasm SIMD kernels (simd/<part>/).
//
// Pixels are mostly widened to 16-bit lanes (i16x8): every intermediate of
// the H.264 filters we replace fits there, so the arithmetic is the C
// kernels' arithmetic, and bit-exactness does not hang on 8-bit tricks.
// Kernels load and store exactly the bytes the C kernel touches, never
// more: some callers pass small stack buffers.

#ifndef FRAMECHAIN_WASM_SIMD_H
#define FRAMECHAIN_WASM_SIMD_H

#include <stdint.h>
#include <wasm_simd128.h>

#define FC_INLINE static inline __attribute__ ((always_inline))

// |a - b| < t per signed 16-bit lane, as an all-ones / all-zeros mask.
FC_INLINE v128_t FcAbsDiffLt (v128_t a, v128_t b, v128_t t) {
  return wasm_i16x8_lt (wasm_i16x8_abs (wasm_i16x8_sub (a, b)), t);
}

// Clamp to [lo, hi] per signed 16-bit lane.
FC_INLINE v128_t FcClamp16 (v128_t v, v128_t lo, v128_t hi) {
  return wasm_i16x8_min (wasm_i16x8_max (v, lo), hi);
}

#endif // FRAMECHAIN_WASM_SIMD_H
