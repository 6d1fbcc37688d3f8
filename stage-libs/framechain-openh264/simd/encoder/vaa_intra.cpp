// Variance of the 4x4 block means of a macroblock (intra analysis), with
// wasm SIMD128. Replaces AnalysisVaaInfoIntra_c (codec/encoder/core/src/
// md.cpp) in the encoder's table (hooks.cpp). Integer sums, shifts and
// products that fit 32 bits: the result equals the C one.

#include "kernels.h"
#include "simd_util.h"

namespace FramechainSimd {

int32_t AnalysisVaaInfoIntra (uint8_t* pDataY, const int32_t kiLineSize) {
  v128_t sum = wasm_i32x4_splat (0), sqr = sum;
  for (int j = 0; j < 16; j += 4) {
    const uint8_t* p = pDataY + j * kiLineSize;
    // Pairs of pixels summed over 4 rows, then pairs of pairs: one 32-bit
    // lane per 4x4 block, its mean after >> 4.
    v128_t s = wasm_u16x8_extadd_pairwise_u8x16 (wasm_v128_load (p));
    s = wasm_i16x8_add (s, wasm_u16x8_extadd_pairwise_u8x16 (wasm_v128_load (p + kiLineSize)));
    s = wasm_i16x8_add (s, wasm_u16x8_extadd_pairwise_u8x16 (wasm_v128_load (p + 2 * kiLineSize)));
    s = wasm_i16x8_add (s, wasm_u16x8_extadd_pairwise_u8x16 (wasm_v128_load (p + 3 * kiLineSize)));
    v128_t avg = wasm_u32x4_shr (wasm_u32x4_extadd_pairwise_u16x8 (s), 4);
    sum = wasm_i32x4_add (sum, avg);
    sqr = wasm_i32x4_add (sqr, wasm_i32x4_mul (avg, avg));
  }
  int32_t iSumAvg = SumI32x4 (sum);
  return SumI32x4 (sqr) - ((iSumAvg * iSumAvg) >> 4);
}

} // namespace FramechainSimd
