// Inverse transforms plus prediction for the decoder, wasm32 with 128-bit SIMD.
//
// Replaces WelsDec::IdctResAddPred_c (4x4) and IdctResAddPred8x8_c
// (decoder/core/src/decode_mb_aux.cpp). build/simd.rs renames them only in
// decoder.cpp, whose InitPredFunc puts them in the decoder's table (and
// instantiates IdctFourResAddPred_ with the 4x4 one); the C versions stay
// defined.
//
// Bit-exactness: the C 4x4 stores its first (row) pass in int16 and runs
// the column pass in int32; we do the same with i16x8 then i32x4 lanes.
// The C 8x8 keeps every intermediate in int16, which wrapping i16x8
// arithmetic reproduces; only its final (x + 32) >> 6 is computed in int,
// see Add8x8.

#include "decode_mb_aux.h"

#include "wasm_simd.h"

namespace WelsDec {

void FramechainSimdIdctResAddPred (uint8_t* pPred, const int32_t kiStride, int16_t* pRs);
void FramechainSimdIdctResAddPred8x8 (uint8_t* pPred, const int32_t kiStride, int16_t* pRs);

} // namespace WelsDec

namespace {

// Adds 16-bit residuals (saturated) to 8 prediction bytes, clipping to 0..255.
FC_INLINE v128_t AddPred (v128_t res, v128_t pred) {
  return wasm_i16x8_add_sat (res, wasm_u16x8_extend_low_u8x16 (pred));
}

// The 8-point 1-D inverse transform of H.264 on 8 vectors (one per input
// index), every step wrapped to 16 bits like the C kernel's int16 arrays.
FC_INLINE void Idct8 (v128_t p[8]) {
  const v128_t a0 = wasm_i16x8_add (p[0], p[4]);
  const v128_t a1 = wasm_i16x8_sub (p[0], p[4]);
  const v128_t a2 = wasm_i16x8_sub (p[6], wasm_i16x8_shr (p[2], 1));
  const v128_t a3 = wasm_i16x8_add (p[2], wasm_i16x8_shr (p[6], 1));
  const v128_t b0 = wasm_i16x8_add (a0, a3);
  const v128_t b2 = wasm_i16x8_sub (a1, a2);
  const v128_t b4 = wasm_i16x8_add (a1, a2);
  const v128_t b6 = wasm_i16x8_sub (a0, a3);
  // Odd part: -p3 + p5 - p7 - p7/2, p1 + p7 - p3 - p3/2, -p1 + p7 + p5 + p5/2, p3 + p5 + p1 + p1/2.
  const v128_t o0 = wasm_i16x8_sub (wasm_i16x8_sub (wasm_i16x8_sub (p[5], p[3]), p[7]), wasm_i16x8_shr (p[7], 1));
  const v128_t o1 = wasm_i16x8_sub (wasm_i16x8_sub (wasm_i16x8_add (p[1], p[7]), p[3]), wasm_i16x8_shr (p[3], 1));
  const v128_t o2 = wasm_i16x8_add (wasm_i16x8_add (wasm_i16x8_sub (p[7], p[1]), p[5]), wasm_i16x8_shr (p[5], 1));
  const v128_t o3 = wasm_i16x8_add (wasm_i16x8_add (wasm_i16x8_add (p[3], p[5]), p[1]), wasm_i16x8_shr (p[1], 1));
  const v128_t b1 = wasm_i16x8_add (o0, wasm_i16x8_shr (o3, 2));
  const v128_t b3 = wasm_i16x8_add (o1, wasm_i16x8_shr (o2, 2));
  const v128_t b5 = wasm_i16x8_sub (o2, wasm_i16x8_shr (o1, 2));
  const v128_t b7 = wasm_i16x8_sub (o3, wasm_i16x8_shr (o0, 2));
  p[0] = wasm_i16x8_add (b0, b7);
  p[1] = wasm_i16x8_sub (b2, b5);
  p[2] = wasm_i16x8_add (b4, b3);
  p[3] = wasm_i16x8_add (b6, b1);
  p[4] = wasm_i16x8_sub (b6, b1);
  p[5] = wasm_i16x8_sub (b4, b3);
  p[6] = wasm_i16x8_add (b2, b5);
  p[7] = wasm_i16x8_sub (b0, b7);
}

// 8x8 transpose of 16-bit lanes.
FC_INLINE void Transpose8x8 (v128_t v[8]) {
  v128_t a[8], b[8];
  for (int k = 0; k < 4; k++) {
    a[2 * k] = wasm_i16x8_shuffle (v[2 * k], v[2 * k + 1], 0, 8, 1, 9, 2, 10, 3, 11);
    a[2 * k + 1] = wasm_i16x8_shuffle (v[2 * k], v[2 * k + 1], 4, 12, 5, 13, 6, 14, 7, 15);
  }
  // a[2k]: columns 0..3 of rows 2k, 2k+1 as 32-bit pairs; a[2k+1]: columns 4..7.
  for (int h = 0; h < 2; h++) {
    b[4 * h + 0] = wasm_i32x4_shuffle (a[h], a[2 + h], 0, 4, 1, 5);
    b[4 * h + 1] = wasm_i32x4_shuffle (a[h], a[2 + h], 2, 6, 3, 7);
    b[4 * h + 2] = wasm_i32x4_shuffle (a[4 + h], a[6 + h], 0, 4, 1, 5);
    b[4 * h + 3] = wasm_i32x4_shuffle (a[4 + h], a[6 + h], 2, 6, 3, 7);
  }
  // b[4h + m] (m < 2): columns 4h + 2m, 4h + 2m + 1 of rows 0..3 as 64-bit
  // halves; b[4h + 2 + m]: the same columns of rows 4..7.
  for (int h = 0; h < 2; h++) {
    for (int m = 0; m < 2; m++) {
      v[4 * h + 2 * m] = wasm_i64x2_shuffle (b[4 * h + m], b[4 * h + 2 + m], 0, 2);
      v[4 * h + 2 * m + 1] = wasm_i64x2_shuffle (b[4 * h + m], b[4 * h + 2 + m], 1, 3);
    }
  }
}

} // namespace

namespace WelsDec {

void FramechainSimdIdctResAddPred (uint8_t* pPred, const int32_t kiStride, int16_t* pRs) {
  const v128_t r01 = wasm_v128_load (pRs);     // rows 0, 1
  const v128_t r23 = wasm_v128_load (pRs + 8); // rows 2, 3
  // Columns of the 4x4 input, lane = row.
  const v128_t c01 = wasm_i16x8_shuffle (r01, r23, 0, 4, 8, 12, 1, 5, 9, 13);
  const v128_t c23 = wasm_i16x8_shuffle (r01, r23, 2, 6, 10, 14, 3, 7, 11, 15);
  const v128_t c0 = c01, c2 = c23;
  const v128_t c1 = wasm_i16x8_shuffle (c01, c01, 4, 5, 6, 7, 4, 5, 6, 7);
  const v128_t c3 = wasm_i16x8_shuffle (c23, c23, 4, 5, 6, 7, 4, 5, 6, 7);
  // Row pass (per row, so across lanes), stored to int16 in C.
  const v128_t t0 = wasm_i16x8_add (c0, c2);
  const v128_t t1 = wasm_i16x8_sub (c0, c2);
  const v128_t t2 = wasm_i16x8_sub (wasm_i16x8_shr (c1, 1), c3);
  const v128_t t3 = wasm_i16x8_add (c1, wasm_i16x8_shr (c3, 1));
  const v128_t o0 = wasm_i16x8_add (t0, t3);
  const v128_t o1 = wasm_i16x8_add (t1, t2);
  const v128_t o2 = wasm_i16x8_sub (t1, t2);
  const v128_t o3 = wasm_i16x8_sub (t0, t3);
  // Back to rows (lane = column), widened for the int32 column pass.
  const v128_t a = wasm_i16x8_shuffle (o0, o1, 0, 8, 1, 9, 2, 10, 3, 11);
  const v128_t b = wasm_i16x8_shuffle (o2, o3, 0, 8, 1, 9, 2, 10, 3, 11);
  const v128_t s01 = wasm_i32x4_shuffle (a, b, 0, 4, 1, 5);
  const v128_t s23 = wasm_i32x4_shuffle (a, b, 2, 6, 3, 7);
  const v128_t s0 = wasm_i32x4_extend_low_i16x8 (s01);
  const v128_t s1 = wasm_i32x4_extend_high_i16x8 (s01);
  const v128_t s2 = wasm_i32x4_extend_low_i16x8 (s23);
  const v128_t s3 = wasm_i32x4_extend_high_i16x8 (s23);
  const v128_t k32 = wasm_i32x4_splat (32);
  const v128_t e1 = wasm_i32x4_add (wasm_i32x4_add (s0, s2), k32);
  const v128_t e2 = wasm_i32x4_add (s1, wasm_i32x4_shr (s3, 1));
  const v128_t f1 = wasm_i32x4_add (wasm_i32x4_sub (s0, s2), k32);
  const v128_t f2 = wasm_i32x4_sub (wasm_i32x4_shr (s1, 1), s3);
  const v128_t y0 = wasm_i32x4_shr (wasm_i32x4_add (e1, e2), 6);
  const v128_t y1 = wasm_i32x4_shr (wasm_i32x4_add (f1, f2), 6);
  const v128_t y2 = wasm_i32x4_shr (wasm_i32x4_sub (f1, f2), 6);
  const v128_t y3 = wasm_i32x4_shr (wasm_i32x4_sub (e1, e2), 6);
  // Saturating to 16 bits before adding the prediction keeps the clip exact:
  // anything beyond +-32767 clips to 255 or 0 either way.
  const int32_t s = kiStride;
  v128_t p01 = wasm_v128_load32_lane (pPred + s, wasm_v128_load32_zero (pPred), 1);
  v128_t p23 = wasm_v128_load32_lane (pPred + 3 * s, wasm_v128_load32_zero (pPred + 2 * s), 1);
  const v128_t out = wasm_u8x16_narrow_i16x8 (AddPred (wasm_i16x8_narrow_i32x4 (y0, y1), p01),
                     AddPred (wasm_i16x8_narrow_i32x4 (y2, y3), p23));
  wasm_v128_store32_lane (pPred, out, 0);
  wasm_v128_store32_lane (pPred + s, out, 1);
  wasm_v128_store32_lane (pPred + 2 * s, out, 2);
  wasm_v128_store32_lane (pPred + 3 * s, out, 3);
}

void FramechainSimdIdctResAddPred8x8 (uint8_t* pPred, const int32_t kiStride, int16_t* pRs) {
  v128_t v[8];
  for (int k = 0; k < 8; k++)
    v[k] = wasm_v128_load (pRs + 8 * k);
  // Row pass: lanes must be rows, so transpose in and out.
  Transpose8x8 (v);
  Idct8 (v);
  Transpose8x8 (v);
  // Column pass: lane = column already.
  Idct8 (v);
  // C: WelsClip1 (((32 + x) >> 6) + pred) with x int16 and the sum in int.
  // Saturating 32 + x at 32767 only moves results that clip to 255 anyway.
  const v128_t k32 = wasm_i16x8_splat (32);
  for (int k = 0; k < 8; k += 2) {
    uint8_t* p0 = pPred + k * kiStride;
    uint8_t* p1 = p0 + kiStride;
    const v128_t r0 = wasm_i16x8_shr (wasm_i16x8_add_sat (v[k], k32), 6);
    const v128_t r1 = wasm_i16x8_shr (wasm_i16x8_add_sat (v[k + 1], k32), 6);
    const v128_t out = wasm_u8x16_narrow_i16x8 (AddPred (r0, wasm_v128_load64_zero (p0)),
                       AddPred (r1, wasm_v128_load64_zero (p1)));
    wasm_v128_store64_lane (p0, out, 0);
    wasm_v128_store64_lane (p1, out, 1);
  }
}

} // namespace WelsDec
