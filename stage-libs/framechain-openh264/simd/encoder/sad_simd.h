// SAD kernels as inline templates, shared by simd/encoder/sad.cpp (the
// encoder's table) and simd/processing/sad.cpp (scene change detection).

#ifndef FRAMECHAIN_SIMD_ENCODER_SAD_SIMD_H
#define FRAMECHAIN_SIMD_ENCODER_SAD_SIMD_H

#include "simd_util.h"

namespace FramechainSimd {

// The 16 bytes holding rows `r`.. of a W-wide block: 1 row of 16, 2 rows of 8
// or 4 rows of 4.
template <int W>
inline v128_t LoadRows (const uint8_t* p, int32_t iStride, int32_t r) {
  p += r * iStride;
  if (W == 16)
    return wasm_v128_load (p);
  if (W == 8)
    return Load8x2 (p, p + iStride);
  return Load4x4 (p, iStride);
}

// SAD of a WxH block. Each vector covers 16 / W rows; byte differences are
// summed pairwise into 16-bit lanes, which hold at most 2 * 255 per vector,
// far from overflowing in 16 rows.
template <int W, int H>
inline v128_t SadU16 (const uint8_t* p1, int32_t s1, const uint8_t* p2, int32_t s2) {
  const int kRows = 16 / W;
  v128_t acc = wasm_i16x8_splat (0);
  for (int r = 0; r < H; r += kRows) {
    v128_t d = AbsDiffU8 (LoadRows<W> (p1, s1, r), LoadRows<W> (p2, s2, r));
    acc = wasm_i16x8_add (acc, wasm_u16x8_extadd_pairwise_u8x16 (d));
  }
  return acc;
}

template <int W, int H>
inline int32_t Sad (uint8_t* p1, int32_t s1, uint8_t* p2, int32_t s2) {
  // At most 16 rows * 2 * 255 per lane.
  return SumSmallU16x8 (SadU16<W, H> (p1, s1, p2, s2));
}

// The SADs against the reference moved one row up, one row down, one column
// left and one column right, in that order (as WelsSampleSadFour*_c).
template <int W, int H>
inline void SadFour (uint8_t* p1, int32_t s1, uint8_t* p2, int32_t s2, int32_t* pSad) {
  const int kRows = 16 / W;
  v128_t up = wasm_i16x8_splat (0), down = up, left = up, right = up;
  for (int r = 0; r < H; r += kRows) {
    v128_t cur = LoadRows<W> (p1, s1, r);
    up = wasm_i16x8_add (up, wasm_u16x8_extadd_pairwise_u8x16 (AbsDiffU8 (cur, LoadRows<W> (p2 - s2, s2, r))));
    down = wasm_i16x8_add (down, wasm_u16x8_extadd_pairwise_u8x16 (AbsDiffU8 (cur, LoadRows<W> (p2 + s2, s2, r))));
    left = wasm_i16x8_add (left, wasm_u16x8_extadd_pairwise_u8x16 (AbsDiffU8 (cur, LoadRows<W> (p2 - 1, s2, r))));
    right = wasm_i16x8_add (right, wasm_u16x8_extadd_pairwise_u8x16 (AbsDiffU8 (cur, LoadRows<W> (p2 + 1, s2, r))));
  }
  // Reduce the four accumulators together: pairwise to 32 bits, then a
  // transpose-and-add leaves one total per lane.
  // Lanes are at most 16 rows * 2 * 255: the signed widening is exact.
  v128_t a = wasm_i32x4_extadd_pairwise_i16x8 (up);
  v128_t b = wasm_i32x4_extadd_pairwise_i16x8 (down);
  v128_t c = wasm_i32x4_extadd_pairwise_i16x8 (left);
  v128_t d = wasm_i32x4_extadd_pairwise_i16x8 (right);
  v128_t ab = wasm_i32x4_add (wasm_i32x4_shuffle (a, b, 0, 2, 4, 6), wasm_i32x4_shuffle (a, b, 1, 3, 5, 7));
  v128_t cd = wasm_i32x4_add (wasm_i32x4_shuffle (c, d, 0, 2, 4, 6), wasm_i32x4_shuffle (c, d, 1, 3, 5, 7));
  v128_t all = wasm_i32x4_add (wasm_i32x4_shuffle (ab, cd, 0, 2, 4, 6), wasm_i32x4_shuffle (ab, cd, 1, 3, 5, 7));
  wasm_v128_store (pSad, all);
}

} // namespace FramechainSimd

#endif
