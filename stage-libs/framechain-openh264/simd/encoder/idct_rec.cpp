// Inverse 4x4 transform of dequantised coefficients added to the prediction
// (the encoder's reconstruction), with wasm SIMD128. Replaces
// WelsIDctFourT4Rec_c (codec/encoder/core/src/decode_mb_aux.cpp) in the
// encoder's table (hooks.cpp), and WelsIDctT4Rec_c, WelsDequant4x4_c,
// WelsDequantFour4x4_c beside it.
//
// Exactness: the C horizontal pass stores its results in int16_t and uses
// additions, subtractions and >> 1 of the int16_t inputs, so 16-bit lanes
// give its bits. The vertical pass sums int16_t values in int32 before
// (x + 32) >> 6, so it runs in 32-bit lanes. The sum with the prediction is
// clipped to 0..255: narrowing to 16 bits with saturation, a saturating add
// and an unsigned narrowing to bytes clip exactly like WelsClip1.
// Dequantisation multiplies int16_t by uint16_t into int16_t: a 16-bit
// wrapping multiply.

#include "kernels.h"
#include "simd_util.h"

namespace FramechainSimd {

void IDctFourT4Rec (uint8_t* pRec, int32_t iStride, uint8_t* pPred, int32_t iPredStride, int16_t* pDct) {
  // Blocks 0-3 (top left, top right, bottom left, bottom right) are at
  // pDct + 16 * b, rows of 4. Transpose so that c[h][k] holds coefficient k
  // of rows 2h (lanes 0-3) and 2h + 1 (lanes 4-7) of blocks 0-3.
  v128_t c[2][4];
  for (int h = 0; h < 2; h++) {
    v128_t l0 = wasm_v128_load (pDct + 8 * h), l1 = wasm_v128_load (pDct + 16 + 8 * h);
    v128_t l2 = wasm_v128_load (pDct + 32 + 8 * h), l3 = wasm_v128_load (pDct + 48 + 8 * h);
    // Columns 0 | 1 (then 2 | 3) of both rows of two blocks.
    v128_t m01 = wasm_i16x8_shuffle (l0, l1, 0, 8, 4, 12, 1, 9, 5, 13);
    v128_t n01 = wasm_i16x8_shuffle (l0, l1, 2, 10, 6, 14, 3, 11, 7, 15);
    v128_t m23 = wasm_i16x8_shuffle (l2, l3, 0, 8, 4, 12, 1, 9, 5, 13);
    v128_t n23 = wasm_i16x8_shuffle (l2, l3, 2, 10, 6, 14, 3, 11, 7, 15);
    c[h][0] = wasm_i32x4_shuffle (m01, m23, 0, 4, 1, 5);
    c[h][1] = wasm_i32x4_shuffle (m01, m23, 2, 6, 3, 7);
    c[h][2] = wasm_i32x4_shuffle (n01, n23, 0, 4, 1, 5);
    c[h][3] = wasm_i32x4_shuffle (n01, n23, 2, 6, 3, 7);
  }
  // Horizontal pass in 16 bits; then w[j][r]: column j of row r, blocks 0-3
  // in 32-bit lanes.
  v128_t w[4][4];
  for (int h = 0; h < 2; h++) {
    const v128_t* x = c[h];
    v128_t sumU = wasm_i16x8_add (x[0], x[2]);
    v128_t delU = wasm_i16x8_sub (x[0], x[2]);
    v128_t sumD = wasm_i16x8_add (x[1], wasm_i16x8_shr (x[3], 1));
    v128_t delD = wasm_i16x8_sub (wasm_i16x8_shr (x[1], 1), x[3]);
    v128_t t[4] = {wasm_i16x8_add (sumU, sumD), wasm_i16x8_add (delU, delD), wasm_i16x8_sub (delU, delD),
                   wasm_i16x8_sub (sumU, sumD)};
    for (int j = 0; j < 4; j++) {
      w[j][2 * h] = wasm_i32x4_extend_low_i16x8 (t[j]);
      w[j][2 * h + 1] = wasm_i32x4_extend_high_i16x8 (t[j]);
    }
  }
  // Vertical pass in 32 bits, with the rounding; r16[j][r] in 16 bits again.
  const v128_t k32 = wasm_i32x4_splat (32);
  v128_t res[4][4];
  for (int j = 0; j < 4; j++) {
    const v128_t* y = w[j];
    v128_t sumL = wasm_i32x4_add (wasm_i32x4_add (y[0], y[2]), k32);
    v128_t delL = wasm_i32x4_add (wasm_i32x4_sub (y[0], y[2]), k32);
    v128_t delR = wasm_i32x4_sub (wasm_i32x4_shr (y[1], 1), y[3]);
    v128_t sumR = wasm_i32x4_add (y[1], wasm_i32x4_shr (y[3], 1));
    res[j][0] = wasm_i32x4_shr (wasm_i32x4_add (sumL, sumR), 6);
    res[j][1] = wasm_i32x4_shr (wasm_i32x4_add (delL, delR), 6);
    res[j][2] = wasm_i32x4_shr (wasm_i32x4_sub (delL, delR), 6);
    res[j][3] = wasm_i32x4_shr (wasm_i32x4_sub (sumL, sumR), 6);
  }
  for (int r = 0; r < 4; r++) {
    v128_t a = wasm_i16x8_narrow_i32x4 (res[0][r], res[1][r]); // columns 0 | 1, blocks 0-3
    v128_t b = wasm_i16x8_narrow_i32x4 (res[2][r], res[3][r]); // columns 2 | 3
    v128_t top = wasm_i16x8_shuffle (a, b, 0, 4, 8, 12, 1, 5, 9, 13);    // row r of blocks 0, 1
    v128_t bottom = wasm_i16x8_shuffle (a, b, 2, 6, 10, 14, 3, 7, 11, 15); // row r of blocks 2, 3
    v128_t pred = Load8x2 (pPred + r * iPredStride, pPred + (r + 4) * iPredStride);
    top = wasm_i16x8_add_sat (top, wasm_u16x8_extend_low_u8x16 (pred));
    bottom = wasm_i16x8_add_sat (bottom, wasm_u16x8_extend_high_u8x16 (pred));
    v128_t rec = wasm_u8x16_narrow_i16x8 (top, bottom);
    wasm_v128_store64_lane (pRec + r * iStride, rec, 0);
    wasm_v128_store64_lane (pRec + (r + 4) * iStride, rec, 1);
  }
}

void IDctT4Rec (uint8_t* pRec, int32_t iStride, uint8_t* pPred, int32_t iPredStride, int16_t* pDct) {
  // Columns of the block: a = c0 | c1, b = c2 | c3, lanes 0-3 = rows 0-3.
  v128_t r01 = wasm_v128_load (pDct), r23 = wasm_v128_load (pDct + 8);
  v128_t a = wasm_i16x8_shuffle (r01, r23, 0, 4, 8, 12, 1, 5, 9, 13);
  v128_t b = wasm_i16x8_shuffle (r01, r23, 2, 6, 10, 14, 3, 7, 11, 15);
  // Horizontal pass in 16 bits: sumU = c0 + c2 | sumD = c1 + (c3 >> 1) and
  // delU = c0 - c2 | delD = (c1 >> 1) - c3.
  v128_t sum = wasm_i16x8_add (a, wasm_i64x2_shuffle (b, wasm_i16x8_shr (b, 1), 0, 3));
  v128_t del = wasm_i16x8_sub (wasm_i64x2_shuffle (a, wasm_i16x8_shr (a, 1), 0, 3), b);
  v128_t u = wasm_i64x2_shuffle (sum, del, 0, 2); // sumU | delU
  v128_t d = wasm_i64x2_shuffle (sum, del, 1, 3); // sumD | delD
  v128_t t01 = wasm_i16x8_add (u, d);             // column 0 | column 1
  v128_t t32 = wasm_i16x8_sub (u, d);             // column 3 | column 2
  // Back to rows, in 32 bits: y[r] = row r, lanes = columns.
  v128_t c0 = wasm_i32x4_extend_low_i16x8 (t01), c1 = wasm_i32x4_extend_high_i16x8 (t01);
  v128_t c3 = wasm_i32x4_extend_low_i16x8 (t32), c2 = wasm_i32x4_extend_high_i16x8 (t32);
  v128_t e0 = wasm_i32x4_shuffle (c0, c1, 0, 4, 1, 5), e1 = wasm_i32x4_shuffle (c0, c1, 2, 6, 3, 7);
  v128_t f0 = wasm_i32x4_shuffle (c2, c3, 0, 4, 1, 5), f1 = wasm_i32x4_shuffle (c2, c3, 2, 6, 3, 7);
  v128_t y[4] = {wasm_i64x2_shuffle (e0, f0, 0, 2), wasm_i64x2_shuffle (e0, f0, 1, 3), wasm_i64x2_shuffle (e1, f1, 0, 2),
                 wasm_i64x2_shuffle (e1, f1, 1, 3)};
  const v128_t k32 = wasm_i32x4_splat (32);
  v128_t sumL = wasm_i32x4_add (wasm_i32x4_add (y[0], y[2]), k32);
  v128_t delL = wasm_i32x4_add (wasm_i32x4_sub (y[0], y[2]), k32);
  v128_t delR = wasm_i32x4_sub (wasm_i32x4_shr (y[1], 1), y[3]);
  v128_t sumR = wasm_i32x4_add (y[1], wasm_i32x4_shr (y[3], 1));
  v128_t res01 = wasm_i16x8_narrow_i32x4 (wasm_i32x4_shr (wasm_i32x4_add (sumL, sumR), 6),
                                          wasm_i32x4_shr (wasm_i32x4_add (delL, delR), 6));
  v128_t res23 = wasm_i16x8_narrow_i32x4 (wasm_i32x4_shr (wasm_i32x4_sub (delL, delR), 6),
                                          wasm_i32x4_shr (wasm_i32x4_sub (sumL, sumR), 6));
  v128_t pred = Load4x4 (pPred, iPredStride);
  res01 = wasm_i16x8_add_sat (res01, wasm_u16x8_extend_low_u8x16 (pred));
  res23 = wasm_i16x8_add_sat (res23, wasm_u16x8_extend_high_u8x16 (pred));
  v128_t rec = wasm_u8x16_narrow_i16x8 (res01, res23);
  wasm_v128_store32_lane (pRec, rec, 0);
  wasm_v128_store32_lane (pRec + iStride, rec, 1);
  wasm_v128_store32_lane (pRec + 2 * iStride, rec, 2);
  wasm_v128_store32_lane (pRec + 3 * iStride, rec, 3);
}

void Dequant4x4 (int16_t* pRes, const uint16_t* kpMF) {
  v128_t mf = wasm_v128_load (kpMF);
  wasm_v128_store (pRes, wasm_i16x8_mul (wasm_v128_load (pRes), mf));
  wasm_v128_store (pRes + 8, wasm_i16x8_mul (wasm_v128_load (pRes + 8), mf));
}

void DequantFour4x4 (int16_t* pRes, const uint16_t* kpMF) {
  v128_t mf = wasm_v128_load (kpMF);
  for (int i = 0; i < 64; i += 8)
    wasm_v128_store (pRes + i, wasm_i16x8_mul (wasm_v128_load (pRes + i), mf));
}

} // namespace FramechainSimd
