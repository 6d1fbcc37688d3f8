// Coefficient bookkeeping of the encoder with wasm SIMD128: zigzag scans and
// the single-coefficient cost. Replaces WelsScan4x4DcAc_c, WelsScan4x4Ac_c
// and WelsCalculateSingleCtr4x4_c (codec/encoder/core/src/encode_mb_aux.cpp)
// in the encoder's table (hooks.cpp). Pure data movement and counting: the
// results equal the C ones.

#include "kernels.h"
#include "simd_util.h"

namespace FramechainSimd {

// 4x4 zigzag: pLevel[k] = pDct[zigzag[k]].
void Scan4x4DcAc (int16_t* pLevel, int16_t* pDct) {
  v128_t lo = wasm_v128_load (pDct), hi = wasm_v128_load (pDct + 8);
  wasm_v128_store (pLevel, wasm_i16x8_shuffle (lo, hi, 0, 1, 4, 8, 5, 2, 3, 6));
  wasm_v128_store (pLevel + 8, wasm_i16x8_shuffle (lo, hi, 9, 12, 13, 10, 7, 11, 14, 15));
}

// The zigzag without the DC, then a zero.
void Scan4x4Ac (int16_t* pLevel, int16_t* pDct) {
  v128_t lo = wasm_v128_load (pDct), hi = wasm_v128_load (pDct + 8);
  wasm_v128_store (pLevel, wasm_i16x8_shuffle (lo, hi, 1, 4, 8, 5, 2, 3, 6, 9));
  wasm_v128_store (pLevel + 8, wasm_i16x8_replace_lane (wasm_i16x8_shuffle (lo, hi, 12, 13, 10, 7, 11, 14, 15, 15), 7, 0));
}

// The C kernel walks down from the last non-zero coefficient and adds
// kiTRunTable[run] for each non-zero one, run being the zeros between it and
// the next non-zero one below (or the start). The same walk over a bit mask
// of the non-zero coefficients.
int32_t CalculateSingleCtr4x4 (int16_t* pDct) {
  static const int32_t kiTRunTable[16] = {3, 2, 2, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  const v128_t kZero = wasm_i16x8_splat (0);
  v128_t z = wasm_i8x16_narrow_i16x8 (wasm_i16x8_eq (wasm_v128_load (pDct), kZero),
                                      wasm_i16x8_eq (wasm_v128_load (pDct + 8), kZero));
  uint32_t uiMask = ~wasm_i8x16_bitmask (z) & 0xffff; // bit i: pDct[i] != 0
  int32_t iSingleCtr = 0;
  while (uiMask) {
    int32_t p = 31 - __builtin_clz (uiMask);
    uiMask &= ~(1u << p);
    int32_t q = uiMask ? 31 - __builtin_clz (uiMask) : -1;
    iSingleCtr += kiTRunTable[p - 1 - q];
  }
  return iSingleCtr;
}

} // namespace FramechainSimd
