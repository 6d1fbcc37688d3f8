// Per-frame SAD statistics of the pre-processing (background detection), with
// wasm SIMD128. Replaces VAACalcSadBgd_c (codec/processing/src/vaacalc/
// vaacalcfuncs.cpp): build/simd.rs renames it where vaacalculation.cpp puts
// it in the table. Integer sums and maxima: the results equal the C ones.

#include <stdint.h>
#include <wasm_simd128.h>
#ifdef FRAMECHAIN_SIMD_VERIFY
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#endif

namespace WelsVP {

void FramechainSimdVAACalcSadBgd (const uint8_t* pCurData, const uint8_t* pRefData, int32_t iPicWidth,
                                  int32_t iPicHeight, int32_t iPicStride, int32_t* pFrameSad, int32_t* pSad8x8,
                                  int32_t* pSd8x8, uint8_t* pMad8x8);

namespace {

// Statistics of 8 rows of 16 pixels: the left 8x8 block in the low half of
// each vector, the right one in the high half.
struct HalfMb {
  v128_t sad; // 32-bit lanes: left, left, right, right partial sums
  v128_t sd;  // same, of the signed differences
  v128_t mad; // bytes 0-7: left maxima, 8-15: right maxima
};

inline HalfMb Stats (const uint8_t* pCur, const uint8_t* pRef, int32_t iStride) {
  v128_t sad = wasm_i16x8_splat (0), cur = sad, ref = sad, mad = sad;
  for (int k = 0; k < 8; k++) {
    v128_t c = wasm_v128_load (pCur + k * iStride);
    v128_t r = wasm_v128_load (pRef + k * iStride);
    v128_t d = wasm_v128_or (wasm_u8x16_sub_sat (c, r), wasm_u8x16_sub_sat (r, c));
    // 16-bit lanes hold at most 8 rows * 2 * 255.
    sad = wasm_i16x8_add (sad, wasm_u16x8_extadd_pairwise_u8x16 (d));
    cur = wasm_i16x8_add (cur, wasm_u16x8_extadd_pairwise_u8x16 (c));
    ref = wasm_i16x8_add (ref, wasm_u16x8_extadd_pairwise_u8x16 (r));
    mad = wasm_u8x16_max (mad, d);
  }
  HalfMb h;
  h.sad = wasm_u32x4_extadd_pairwise_u16x8 (sad);
  h.sd = wasm_i32x4_extadd_pairwise_i16x8 (wasm_i16x8_sub (cur, ref));
  h.mad = mad;
  return h;
}

// Lanes: top left, top right, bottom left, bottom right.
inline v128_t Blocks (v128_t top, v128_t bottom) {
  return wasm_i32x4_add (wasm_i32x4_shuffle (top, bottom, 0, 2, 4, 6), wasm_i32x4_shuffle (top, bottom, 1, 3, 5, 7));
}

} // namespace

#ifdef FRAMECHAIN_SIMD_VERIFY
void VAACalcSadBgd_c (const uint8_t* pCurData, const uint8_t* pRefData, int32_t iPicWidth, int32_t iPicHeight,
                      int32_t iPicStride, int32_t* pFrameSad, int32_t* pSad8x8, int32_t* pSd8x8, uint8_t* pMad8x8);
static void Simd (const uint8_t* pCurData, const uint8_t* pRefData, int32_t iPicWidth, int32_t iPicHeight,
                  int32_t iPicStride, int32_t* pFrameSad, int32_t* pSad8x8, int32_t* pSd8x8, uint8_t* pMad8x8);

// Checked kernel (see simd/encoder/hooks.cpp).
void FramechainSimdVAACalcSadBgd (const uint8_t* pCurData, const uint8_t* pRefData, int32_t iPicWidth,
                                  int32_t iPicHeight, int32_t iPicStride, int32_t* pFrameSad, int32_t* pSad8x8,
                                  int32_t* pSd8x8, uint8_t* pMad8x8) {
  int32_t n = (iPicWidth >> 4) * (iPicHeight >> 4) * 4, frame;
  int32_t* sad = (int32_t*) malloc (n * sizeof (int32_t));
  int32_t* sd = (int32_t*) malloc (n * sizeof (int32_t));
  uint8_t* mad = (uint8_t*) malloc (n);
  VAACalcSadBgd_c (pCurData, pRefData, iPicWidth, iPicHeight, iPicStride, &frame, sad, sd, mad);
  Simd (pCurData, pRefData, iPicWidth, iPicHeight, iPicStride, pFrameSad, pSad8x8, pSd8x8, pMad8x8);
  if (frame != *pFrameSad || memcmp (sad, pSad8x8, n * 4) || memcmp (sd, pSd8x8, n * 4) || memcmp (mad, pMad8x8, n)) {
    fprintf (stderr, "framechain simd: VAACalcSadBgd differs from the C kernel\n");
    abort();
  }
  free (sad);
  free (sd);
  free (mad);
}
static void Simd (const uint8_t* pCurData, const uint8_t* pRefData, int32_t iPicWidth, int32_t iPicHeight,
                  int32_t iPicStride, int32_t* pFrameSad, int32_t* pSad8x8, int32_t* pSd8x8, uint8_t* pMad8x8) {
#else
void FramechainSimdVAACalcSadBgd (const uint8_t* pCurData, const uint8_t* pRefData, int32_t iPicWidth,
                                  int32_t iPicHeight, int32_t iPicStride, int32_t* pFrameSad, int32_t* pSad8x8,
                                  int32_t* pSd8x8, uint8_t* pMad8x8) {
#endif
  const int32_t kiMbWidth = iPicWidth >> 4;
  const int32_t kiMbHeight = iPicHeight >> 4;
  v128_t frame = wasm_i32x4_splat (0);
  int32_t iMb = 0;
  for (int32_t i = 0; i < kiMbHeight; i++) {
    const uint8_t* pCur = pCurData + i * 16 * iPicStride;
    const uint8_t* pRef = pRefData + i * 16 * iPicStride;
    for (int32_t j = 0; j < kiMbWidth; j++, iMb++, pCur += 16, pRef += 16) {
      HalfMb t = Stats (pCur, pRef, iPicStride);
      HalfMb b = Stats (pCur + 8 * iPicStride, pRef + 8 * iPicStride, iPicStride);
      v128_t sad = Blocks (t.sad, b.sad);
      wasm_v128_store (pSad8x8 + 4 * iMb, sad);
      wasm_v128_store (pSd8x8 + 4 * iMb, Blocks (t.sd, b.sd));
      frame = wasm_i32x4_add (frame, sad);
      // Maxima: groups of 4 bytes per block, then 2, then 1.
      v128_t m = wasm_u8x16_max (
                   wasm_i8x16_shuffle (t.mad, b.mad, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27),
                   wasm_i8x16_shuffle (t.mad, b.mad, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31));
      m = wasm_u8x16_max (m, wasm_i8x16_shuffle (m, m, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13));
      m = wasm_u8x16_max (m, wasm_i8x16_shuffle (m, m, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14));
      m = wasm_i8x16_shuffle (m, m, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12);
      wasm_v128_store32_lane (pMad8x8 + 4 * iMb, m, 0);
    }
  }
  v128_t s = wasm_i32x4_add (frame, wasm_i32x4_shuffle (frame, frame, 2, 3, 0, 1));
  s = wasm_i32x4_add (s, wasm_i32x4_shuffle (s, s, 1, 0, 3, 2));
  *pFrameSad = wasm_i32x4_extract_lane (s, 0);
}

} // namespace WelsVP
