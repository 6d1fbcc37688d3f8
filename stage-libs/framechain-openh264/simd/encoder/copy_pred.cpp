// Block copies and 16x16 plane intra prediction of the encoder, with wasm
// SIMD128. Replaces WelsCopy16x16_c, WelsCopy16x8_c, WelsCopy8x16_c,
// WelsCopy8x8_c (codec/common/src/copy_mb.cpp), WelsI16x16LumaPredPlane_c,
// WelsI16x16LumaPredDc_c and WelsIChromaPredPlane_c (codec/encoder/core/src/
// get_intra_predictor.cpp) in the encoder's table (hooks.cpp).

#include "kernels.h"
#include "simd_util.h"

namespace FramechainSimd {
namespace {

template <int W, int H>
inline void Copy (uint8_t* pDst, int32_t iStrideD, uint8_t* pSrc, int32_t iStrideS) {
  for (int y = 0; y < H; y++) {
    if (W == 16)
      wasm_v128_store (pDst + y * iStrideD, wasm_v128_load (pSrc + y * iStrideS));
    else
      wasm_v128_store64_lane (pDst + y * iStrideD, wasm_v128_load64_zero (pSrc + y * iStrideS), 0);
  }
}

} // namespace

void Copy16x16 (uint8_t* d, int32_t sd, uint8_t* s, int32_t ss) { Copy<16, 16> (d, sd, s, ss); }
void Copy16x8 (uint8_t* d, int32_t sd, uint8_t* s, int32_t ss) { Copy<16, 8> (d, sd, s, ss); }
void Copy8x16 (uint8_t* d, int32_t sd, uint8_t* s, int32_t ss) { Copy<8, 16> (d, sd, s, ss); }
void Copy8x8 (uint8_t* d, int32_t sd, uint8_t* s, int32_t ss) { Copy<8, 8> (d, sd, s, ss); }

// pPred[i][j] = clip ((lt + t * (j - 7) + l * (i - 7) + 16) >> 5). The
// gradient sums stay scalar (as in C); the 256 values are at most
// 510 * 16 + 2 * 8 * 717 + 16 in magnitude, so 16-bit lanes hold them
// exactly, and the unsigned saturating narrowing is the clip to 0..255.
void I16x16LumaPredPlane (uint8_t* pPred, uint8_t* pRef, const int32_t kiStride) {
  const uint8_t* pTop = pRef - kiStride;
  const uint8_t* pLeft = pRef - 1;
  int32_t iTopSum = 0, iLeftSum = 0;
  for (int32_t i = 0; i < 8; i++) {
    iTopSum += (i + 1) * (pTop[8 + i] - pTop[6 - i]);
    iLeftSum += (i + 1) * (pLeft[(8 + i) * kiStride] - pLeft[(6 - i) * kiStride]);
  }
  const int32_t kiLt = (pLeft[15 * kiStride] + pTop[15]) << 4;
  const int32_t kiT = (5 * iTopSum + 32) >> 6;
  const int32_t kiL = (5 * iLeftSum + 32) >> 6;
  // Row 0: lt + 16 - 7 l + t * (j - 7).
  const v128_t kT = wasm_i16x8_splat ((int16_t) kiT);
  v128_t lo = wasm_i16x8_add (wasm_i16x8_splat ((int16_t) (kiLt + 16 - 7 * kiL)),
                              wasm_i16x8_mul (kT, wasm_i16x8_make (-7, -6, -5, -4, -3, -2, -1, 0)));
  v128_t hi = wasm_i16x8_add (lo, wasm_i16x8_shl (kT, 3));
  const v128_t kL = wasm_i16x8_splat ((int16_t) kiL);
  for (int i = 0; i < 16; i++) {
    wasm_v128_store (pPred + 16 * i, wasm_u8x16_narrow_i16x8 (wasm_i16x8_shr (lo, 5), wasm_i16x8_shr (hi, 5)));
    lo = wasm_i16x8_add (lo, kL);
    hi = wasm_i16x8_add (hi, kL);
  }
}

// As the luma plane, on 8x8 with rows of 8 (I8x8_PRED_STRIDE): two rows per
// vector. Magnitudes stay below 510 * 16 + 2 * 4 * 1355 + 16.
void IChromaPredPlane (uint8_t* pPred, uint8_t* pRef, const int32_t kiStride) {
  const uint8_t* pTop = pRef - kiStride;
  const uint8_t* pLeft = pRef - 1;
  int32_t iTopSum = 0, iLeftSum = 0;
  for (int32_t i = 0; i < 4; i++) {
    iTopSum += (i + 1) * (pTop[4 + i] - pTop[2 - i]);
    iLeftSum += (i + 1) * (pLeft[(4 + i) * kiStride] - pLeft[(2 - i) * kiStride]);
  }
  const int32_t kiLt = (pLeft[7 * kiStride] + pTop[7]) << 4;
  const int32_t kiT = (17 * iTopSum + 16) >> 5;
  const int32_t kiL = (17 * iLeftSum + 16) >> 5;
  // Rows 0 and 1: lt + 16 + t * (j - 3) + l * (i - 3).
  const v128_t kRamp = wasm_i16x8_mul (wasm_i16x8_splat ((int16_t) kiT), wasm_i16x8_make (-3, -2, -1, 0, 1, 2, 3, 4));
  v128_t r0 = wasm_i16x8_add (wasm_i16x8_splat ((int16_t) (kiLt + 16 - 3 * kiL)), kRamp);
  v128_t r1 = wasm_i16x8_add (r0, wasm_i16x8_splat ((int16_t) kiL));
  const v128_t kL2 = wasm_i16x8_splat ((int16_t) (2 * kiL));
  for (int i = 0; i < 8; i += 2) {
    wasm_v128_store (pPred + 8 * i, wasm_u8x16_narrow_i16x8 (wasm_i16x8_shr (r0, 5), wasm_i16x8_shr (r1, 5)));
    r0 = wasm_i16x8_add (r0, kL2);
    r1 = wasm_i16x8_add (r1, kL2);
  }
}

// The mean of the 16 pixels above and the 16 on the left, everywhere.
void I16x16LumaPredDc (uint8_t* pPred, uint8_t* pRef, const int32_t kiStride) {
  int32_t iSum = SumSmallU16x8 (wasm_u16x8_extadd_pairwise_u8x16 (wasm_v128_load (pRef - kiStride)));
  for (int32_t i = 0; i < 16; i++)
    iSum += pRef[i * kiStride - 1];
  const v128_t kMean = wasm_i8x16_splat ((int8_t) ((16 + iSum) >> 5));
  for (int i = 0; i < 256; i += 16)
    wasm_v128_store (pPred + i, kMean);
}

} // namespace FramechainSimd
