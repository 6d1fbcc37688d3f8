// Small wasm SIMD128 helpers shared by the encoder kernels in this folder.

#ifndef FRAMECHAIN_SIMD_ENCODER_SIMD_UTIL_H
#define FRAMECHAIN_SIMD_ENCODER_SIMD_UTIL_H

#include <stdint.h>
#include <wasm_simd128.h>

namespace FramechainSimd {

// |a - b| per unsigned byte: one of the two saturating differences is zero.
static inline v128_t AbsDiffU8 (v128_t a, v128_t b) {
  return wasm_v128_or (wasm_u8x16_sub_sat (a, b), wasm_u8x16_sub_sat (b, a));
}

// Sum of the four 32-bit lanes.
static inline int32_t SumI32x4 (v128_t v) {
  v = wasm_i32x4_add (v, wasm_i32x4_shuffle (v, v, 2, 3, 0, 1));
  v = wasm_i32x4_add (v, wasm_i32x4_shuffle (v, v, 1, 0, 3, 2));
  return wasm_i32x4_extract_lane (v, 0);
}

// Sum of the eight unsigned 16-bit lanes.
static inline int32_t SumU16x8 (v128_t v) {
  return SumI32x4 (wasm_u32x4_extadd_pairwise_u16x8 (v));
}

// Sum of the eight 16-bit lanes when each is at most 32767: the signed
// pairwise widening is a single x86 instruction, the unsigned one is not.
static inline int32_t SumSmallU16x8 (v128_t v) {
  return SumI32x4 (wasm_i32x4_extadd_pairwise_i16x8 (v));
}

// 4 bytes from each of 4 rows, row r in bytes 4r..4r+3.
static inline v128_t Load4x4 (const uint8_t* p, int32_t iStride) {
  v128_t v = wasm_v128_load32_zero (p);
  v = wasm_v128_load32_lane (p + iStride, v, 1);
  v = wasm_v128_load32_lane (p + 2 * iStride, v, 2);
  return wasm_v128_load32_lane (p + 3 * iStride, v, 3);
}

// 8 bytes from each of 2 rows: `p` in bytes 0..7, `q` in bytes 8..15.
static inline v128_t Load8x2 (const uint8_t* p, const uint8_t* q) {
  return wasm_v128_load64_lane (q, wasm_v128_load64_zero (p), 1);
}

} // namespace FramechainSimd

#endif
