// Forward 4x4 transform of the residual and its quantisation, with wasm
// SIMD128. Replaces WelsDctT4_c, WelsDctFourT4_c, WelsQuant4x4_c,
// WelsQuant4x4Dc_c, WelsQuantFour4x4_c, WelsQuantFour4x4Max_c and
// WelsGetNoneZeroCount_c
// (codec/encoder/core/src/encode_mb_aux.cpp) in the encoder's table
// (hooks.cpp).

#include "encode_mb_aux.h"
#include "kernels.h"
#include "simd_util.h"

namespace FramechainSimd {
namespace {

// ---- Transform -------------------------------------------------------------
//
// The C transform keeps its intermediates in int16_t and uses only additions,
// subtractions and doublings, so it is exact arithmetic modulo 2^16: any
// order of the two separable passes in 16-bit lanes gives its bits. We do the
// horizontal pass first, lane-wise after a byte transpose, then the vertical
// one lane-wise across rows.

// Four 4x4 blocks: a[r] and b[r] hold row r of block k in bytes 4k..4k+3.
// Writes the 64 coefficients, block after block, rows of 4 (the C layout).
inline void DctFourBlocks (int16_t* pDct, const v128_t a[4], const v128_t b[4], int iBlocks) {
  v128_t h01[4], h23[4];
  for (int r = 0; r < 4; r++) {
    // Columns c0 | c1 | c3 | c2 of the four blocks, so that the low and high
    // halves of the differences pair c0 with c3 and c1 with c2.
    v128_t at = wasm_i8x16_shuffle (a[r], a[r], 0, 4, 8, 12, 1, 5, 9, 13, 3, 7, 11, 15, 2, 6, 10, 14);
    v128_t bt = wasm_i8x16_shuffle (b[r], b[r], 0, 4, 8, 12, 1, 5, 9, 13, 3, 7, 11, 15, 2, 6, 10, 14);
    v128_t lo = wasm_i16x8_sub (wasm_u16x8_extend_low_u8x16 (at), wasm_u16x8_extend_low_u8x16 (bt));
    v128_t hi = wasm_i16x8_sub (wasm_u16x8_extend_high_u8x16 (at), wasm_u16x8_extend_high_u8x16 (bt));
    v128_t sum = wasm_i16x8_add (lo, hi);  // s0 = c0 + c3 | s1 = c1 + c2
    v128_t del = wasm_i16x8_sub (lo, hi);  // s3 = c0 - c3 | s2 = c1 - c2
    v128_t del2 = wasm_i16x8_shl (del, 1); // 2 s3 | 2 s2
    // h0 = s0 + s1, h1 = 2 s3 + s2, h2 = s0 - s1, h3 = s3 - 2 s2.
    h01[r] = wasm_i16x8_add (wasm_i64x2_shuffle (sum, del2, 0, 2), wasm_i64x2_shuffle (sum, del, 1, 3));
    h23[r] = wasm_i16x8_sub (wasm_i64x2_shuffle (sum, del, 0, 2), wasm_i64x2_shuffle (sum, del2, 1, 3));
  }
  // Vertical pass, the same butterflies across rows.
  v128_t p[4], q[4];
  const v128_t* in[2] = {h01, h23};
  v128_t* out[2] = {p, q};
  for (int n = 0; n < 2; n++) {
    const v128_t* x = in[n];
    v128_t s0 = wasm_i16x8_add (x[0], x[3]), s3 = wasm_i16x8_sub (x[0], x[3]);
    v128_t s1 = wasm_i16x8_add (x[1], x[2]), s2 = wasm_i16x8_sub (x[1], x[2]);
    out[n][0] = wasm_i16x8_add (s0, s1);
    out[n][2] = wasm_i16x8_sub (s0, s1);
    out[n][1] = wasm_i16x8_add (wasm_i16x8_shl (s3, 1), s2);
    out[n][3] = wasm_i16x8_sub (s3, wasm_i16x8_shl (s2, 1));
  }
  // p[k] = coefficient row k, columns 0 | 1 of blocks 0-3; q[k] columns 2 | 3.
  // Gather each block's rows back together.
  v128_t z01[4], z23[4];
  for (int k = 0; k < 4; k++) {
    z01[k] = wasm_i16x8_shuffle (p[k], q[k], 0, 4, 8, 12, 1, 5, 9, 13);  // row k of blocks 0, 1
    z23[k] = wasm_i16x8_shuffle (p[k], q[k], 2, 6, 10, 14, 3, 7, 11, 15); // row k of blocks 2, 3
  }
  wasm_v128_store (pDct, wasm_i64x2_shuffle (z01[0], z01[1], 0, 2));
  wasm_v128_store (pDct + 8, wasm_i64x2_shuffle (z01[2], z01[3], 0, 2));
  if (iBlocks == 1)
    return;
  wasm_v128_store (pDct + 16, wasm_i64x2_shuffle (z01[0], z01[1], 1, 3));
  wasm_v128_store (pDct + 24, wasm_i64x2_shuffle (z01[2], z01[3], 1, 3));
  wasm_v128_store (pDct + 32, wasm_i64x2_shuffle (z23[0], z23[1], 0, 2));
  wasm_v128_store (pDct + 40, wasm_i64x2_shuffle (z23[2], z23[3], 0, 2));
  wasm_v128_store (pDct + 48, wasm_i64x2_shuffle (z23[0], z23[1], 1, 3));
  wasm_v128_store (pDct + 56, wasm_i64x2_shuffle (z23[2], z23[3], 1, 3));
}

// ---- Quantisation ----------------------------------------------------------
//
// C: q = ((ff + |x|) * mf) >> 16 in int32, result |q| with the sign of x.
// With ff and mf in [0, 32767] (OpenH264's tables; checked, else the C kernel
// runs) ff + |x| fits an unsigned 16-bit lane (|-32768| reads as 32768), the
// product fits 32 bits unsigned and q fits 15 bits: unsigned 16x16->32
// multiplies and the high halves give q exactly.

// |q| of 8 coefficients.
inline v128_t QuantAbs (v128_t x, v128_t ff, v128_t mf) {
  v128_t t = wasm_i16x8_add (wasm_i16x8_abs (x), ff);
  v128_t lo = wasm_u32x4_extmul_low_u16x8 (t, mf);
  v128_t hi = wasm_u32x4_extmul_high_u16x8 (t, mf);
  return wasm_i16x8_shuffle (lo, hi, 1, 3, 5, 7, 9, 11, 13, 15);
}

// v with the sign of x: (v ^ s) - s, s = 0 or -1 as in WELS_ABS_LC.
inline v128_t WithSign (v128_t v, v128_t x) {
  v128_t s = wasm_i16x8_shr (x, 15);
  return wasm_i16x8_sub (wasm_v128_xor (v, s), s);
}

inline v128_t Quant8 (v128_t x, v128_t ff, v128_t mf) {
  return WithSign (QuantAbs (x, ff, mf), x);
}

// True if no lane of ff or mf is negative.
inline bool FactorsInRange (v128_t ff, v128_t mf) {
  return wasm_i16x8_bitmask (wasm_v128_or (ff, mf)) == 0;
}

// The largest lane of each of m0..m3, in lanes 0..3.
inline v128_t MaxOfEach (v128_t m0, v128_t m1, v128_t m2, v128_t m3) {
  v128_t a = wasm_i16x8_max (wasm_i64x2_shuffle (m0, m1, 0, 2), wasm_i64x2_shuffle (m0, m1, 1, 3)); // m0 x4 | m1 x4
  v128_t b = wasm_i16x8_max (wasm_i64x2_shuffle (m2, m3, 0, 2), wasm_i64x2_shuffle (m2, m3, 1, 3)); // m2 x4 | m3 x4
  v128_t c = wasm_i16x8_max (wasm_i32x4_shuffle (a, b, 0, 2, 4, 6), wasm_i32x4_shuffle (a, b, 1, 3, 5, 7)); // x2 each
  return wasm_i16x8_max (wasm_i16x8_shuffle (c, c, 0, 2, 4, 6, 0, 2, 4, 6), wasm_i16x8_shuffle (c, c, 1, 3, 5, 7, 1, 3, 5, 7));
}

} // namespace

void DctT4 (int16_t* pDct, uint8_t* pPix1, int32_t iStride1, uint8_t* pPix2, int32_t iStride2) {
  // One block in lanes of block 0; the others see zero differences.
  v128_t a[4], b[4];
  for (int r = 0; r < 4; r++) {
    a[r] = wasm_v128_load32_zero (pPix1 + r * iStride1);
    b[r] = wasm_v128_load32_zero (pPix2 + r * iStride2);
  }
  DctFourBlocks (pDct, a, b, 1);
}

void DctFourT4 (int16_t* pDct, uint8_t* pPix1, int32_t iStride1, uint8_t* pPix2, int32_t iStride2) {
  // Blocks in the C order: top left, top right, bottom left, bottom right.
  v128_t a[4], b[4];
  for (int r = 0; r < 4; r++) {
    a[r] = Load8x2 (pPix1 + r * iStride1, pPix1 + (r + 4) * iStride1);
    b[r] = Load8x2 (pPix2 + r * iStride2, pPix2 + (r + 4) * iStride2);
  }
  DctFourBlocks (pDct, a, b, 4);
}

void Quant4x4 (int16_t* pDct, const int16_t* pFF, const int16_t* pMF) {
  v128_t ff = wasm_v128_load (pFF), mf = wasm_v128_load (pMF);
  if (!FactorsInRange (ff, mf)) {
    WelsEnc::WelsQuant4x4_c (pDct, pFF, pMF);
    return;
  }
  // pFF / pMF hold the factors of two rows, which repeat for rows 2 and 3.
  wasm_v128_store (pDct, Quant8 (wasm_v128_load (pDct), ff, mf));
  wasm_v128_store (pDct + 8, Quant8 (wasm_v128_load (pDct + 8), ff, mf));
}

void Quant4x4Dc (int16_t* pDct, int16_t iFF, int16_t iMF) {
  if (iFF < 0 || iMF < 0) {
    WelsEnc::WelsQuant4x4Dc_c (pDct, iFF, iMF);
    return;
  }
  v128_t ff = wasm_i16x8_splat (iFF), mf = wasm_i16x8_splat (iMF);
  wasm_v128_store (pDct, Quant8 (wasm_v128_load (pDct), ff, mf));
  wasm_v128_store (pDct + 8, Quant8 (wasm_v128_load (pDct + 8), ff, mf));
}

void QuantFour4x4 (int16_t* pDct, const int16_t* pFF, const int16_t* pMF) {
  v128_t ff = wasm_v128_load (pFF), mf = wasm_v128_load (pMF);
  if (!FactorsInRange (ff, mf)) {
    WelsEnc::WelsQuantFour4x4_c (pDct, pFF, pMF);
    return;
  }
  for (int i = 0; i < 64; i += 8)
    wasm_v128_store (pDct + i, Quant8 (wasm_v128_load (pDct + i), ff, mf));
}

void QuantFour4x4Max (int16_t* pDct, const int16_t* pFF, const int16_t* pMF, int16_t* pMax) {
  v128_t ff = wasm_v128_load (pFF), mf = wasm_v128_load (pMF);
  if (!FactorsInRange (ff, mf)) {
    WelsEnc::WelsQuantFour4x4Max_c (pDct, pFF, pMF, pMax);
    return;
  }
  // pMax[k]: the largest |q| of block k (0 if all are 0, as the C start).
  v128_t m[4];
  for (int k = 0; k < 4; k++) {
    int16_t* p = pDct + 16 * k;
    v128_t x0 = wasm_v128_load (p), x1 = wasm_v128_load (p + 8);
    v128_t q0 = QuantAbs (x0, ff, mf), q1 = QuantAbs (x1, ff, mf);
    m[k] = wasm_i16x8_max (q0, q1);
    wasm_v128_store (p, WithSign (q0, x0));
    wasm_v128_store (p + 8, WithSign (q1, x1));
  }
  wasm_v128_store64_lane (pMax, MaxOfEach (m[0], m[1], m[2], m[3]), 0);
}

int32_t GetNoneZeroCount (int16_t* pLevel) {
  // Zero lanes as -1 bytes (narrowing keeps -1 and 0), one bit each.
  const v128_t kZero = wasm_i16x8_splat (0);
  v128_t z = wasm_i8x16_narrow_i16x8 (wasm_i16x8_eq (wasm_v128_load (pLevel), kZero),
                                      wasm_i16x8_eq (wasm_v128_load (pLevel + 8), kZero));
  return 16 - __builtin_popcount (wasm_i8x16_bitmask (z));
}

} // namespace FramechainSimd
