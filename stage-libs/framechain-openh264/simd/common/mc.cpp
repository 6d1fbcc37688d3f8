// Motion compensation for wasm32 with 128-bit SIMD.
//
// Both codecs fill their SMcFunc table through InitMcFunc; build/simd.rs
// renames their call to FramechainSimdInitMcFunc, which lets OpenH264 fill
// the table with its C kernels and then puts ours in every slot:
//   pMcLumaFunc        luma quarter-pel MC (McLuma_c: copy, 6-tap half-pels,
//                      and their rounded averages), widths 4/8/16
//   pMcChromaFunc      chroma eighth-pel bilinear MC (McChroma_c), widths 2/4/8
//   pfLumaHalfpelHor/Ver/Cen  the encoder's half-pel planes for sub-pel motion
//                      search (McHorVer20/02/22_c), widths up to 17
//   pfSampleAveraging  the encoder's rounded average of two blocks (PixelAvg_c)
// Every kernel gives exactly the C kernel's output (same formulas, same
// rounding, same clipping): decoding stays bit-exact and the encoder's
// stream equals the native one.

#include "mc.h"

#include "wasm_simd.h"

namespace {

// ---------------------------------------------------------------------------
// Rows of N pixels as bytes in the low N lanes of a u8x16 (N = 2, 4, 8, 16).

template <int N>
FC_INLINE v128_t LoadPx (const uint8_t* p) {
  if (N == 16)
    return wasm_v128_load (p);
  if (N == 8)
    return wasm_v128_load64_zero (p);
  if (N == 4)
    return wasm_v128_load32_zero (p);
  return wasm_v128_load16_lane (p, wasm_i64x2_const (0, 0), 0);
}

template <int N>
FC_INLINE void StorePx (uint8_t* p, v128_t v) {
  if (N == 16)
    wasm_v128_store (p, v);
  else if (N == 8)
    wasm_v128_store64_lane (p, v, 0);
  else if (N == 4)
    wasm_v128_store32_lane (p, v, 0);
  else
    wasm_v128_store16_lane (p, v, 0);
}

// N (2, 4 or 8) pixels widened to u16 lanes.
template <int N>
FC_INLINE v128_t LoadWide (const uint8_t* p) {
  if (N == 8)
    return wasm_u16x8_load8x8 (p);
  return wasm_u16x8_extend_low_u8x16 (LoadPx<N> (p));
}

// Calls f(row, column) -> u8x16 for each N-wide chunk of a W x H block and
// stores the low N bytes at dst. W need not be a multiple of N (the
// encoder asks for 5, 9, 17): the last chunk then overlaps the one before,
// which recomputes a few pixels rather than touching bytes past W.
//
// Rows go four to an iteration: wasmtime keeps no vector in a register
// across a loop header (the epoch check there may call into the runtime,
// which clobbers every vector register), so each iteration reloads the
// filter's constants from the stack and stores them back; fewer
// iterations, fewer of those.
template <int N, class F>
FC_INLINE void ForChunks (uint8_t* pDst, int32_t iDstStride, int32_t iWidth, int32_t iHeight, F f) {
#pragma clang loop unroll_count(4)
  for (int32_t i = 0; i < iHeight; i++) {
    for (int32_t c = 0;; c += N) {
      if (c + N > iWidth)
        c = iWidth - N;
      StorePx<N> (pDst + c, f (i, c));
      if (c + N >= iWidth)
        break;
    }
    pDst += iDstStride;
  }
}

// ---------------------------------------------------------------------------
// Luma 6-tap filter (1, -5, 20, 20, -5, 1).

// The unrounded filter over taps p - 2o .. p + 3o for N (4 or 8) lanes; o is
// 1 (horizontal) or the stride (vertical). Its range, -2550 .. 10710, fits
// 16-bit lanes, as in the C kernel's int16 temporary.
template <int N>
FC_INLINE v128_t Tap6 (const uint8_t* p, int32_t o) {
  const v128_t s05 = wasm_i16x8_add (LoadWide<N> (p - 2 * o), LoadWide<N> (p + 3 * o));
  const v128_t s14 = wasm_i16x8_add (LoadWide<N> (p - o), LoadWide<N> (p + 2 * o));
  const v128_t s23 = wasm_i16x8_add (LoadWide<N> (p), LoadWide<N> (p + o));
  return wasm_i16x8_add (wasm_i16x8_sub (s05, wasm_i16x8_mul (s14, wasm_i16x8_splat (5))),
                         wasm_i16x8_mul (s23, wasm_i16x8_splat (20)));
}

// (x + 16) >> 5, the half-pel rounding; the byte narrowing that follows
// saturates, which is WelsClip1.
FC_INLINE v128_t Round5 (v128_t v) {
  return wasm_i16x8_shr (wasm_i16x8_add (v, wasm_i16x8_splat (16)), 5);
}

// Half-pel (2, 0) or (0, 2) samples of N pixels at p, as bytes.
template <int N>
FC_INLINE v128_t HalfPel (const uint8_t* p, int32_t o) {
  if (N == 16)
    return wasm_u8x16_narrow_i16x8 (Round5 (Tap6<8> (p, o)), Round5 (Tap6<8> (p + 8, o)));
  const v128_t v = Round5 (Tap6<N> (p, o));
  return wasm_u8x16_narrow_i16x8 (v, v);
}

// The centre (2, 2) sample filters the vertical filter's unrounded values
// horizontally; that sum needs 32 bits. A block does it in two passes: the
// vertical pass into rows of kTmpStride int16, then the horizontal one.
constexpr int32_t kTmpStride = 24; // columns -2 .. W + 2 of W <= 19
constexpr int32_t kTmpRows = 16;   // taller blocks go in bands
constexpr int32_t kCenterMaxWidth = kTmpStride - 5;

// Vertical pass for columns -2 .. iWidth + 2 of iRows rows (iWidth >= 3).
FC_INLINE void CenterVertical (const uint8_t* pSrc, int32_t iSrcStride, int32_t iWidth, int32_t iRows,
                               int16_t* pTmp) {
  const int32_t kiCols = iWidth + 5;
  // Two rows an iteration, for the reason ForChunks gives.
#pragma clang loop unroll_count(2)
  for (int32_t i = 0; i < iRows; i++) {
    for (int32_t c = 0;; c += 8) {
      if (c + 8 > kiCols)
        c = kiCols - 8;
      wasm_v128_store (pTmp + c, Tap6<8> (pSrc - 2 + c, iSrcStride));
      if (c + 8 >= kiCols)
        break;
    }
    pSrc += iSrcStride;
    pTmp += kTmpStride;
  }
}

// Horizontal pass for N (4 or 8) outputs from the vertical values at t
// (t[0] is column -2 of the first output): clip((sum + 512) >> 10), as
// 16-bit lanes before the byte narrowing.
template <int N>
FC_INLINE v128_t CenterLanes (const int16_t* t) {
  v128_t v[6];
  for (int k = 0; k < 6; k++)
    v[k] = N == 8 ? wasm_v128_load (t + k) : wasm_v128_load64_zero (t + k);
  // Pair sums stay within 16 bits (|sum| <= 21420).
  const v128_t s05 = wasm_i16x8_add (v[0], v[5]);
  const v128_t s14 = wasm_i16x8_add (v[1], v[4]);
  const v128_t s23 = wasm_i16x8_add (v[2], v[3]);
  const v128_t m5 = wasm_i16x8_splat (-5);
  const v128_t m20 = wasm_i16x8_splat (20);
  const v128_t r = wasm_i32x4_splat (512);
  v128_t lo = wasm_i32x4_add (wasm_i32x4_extend_low_i16x8 (s05),
                              wasm_i32x4_add (wasm_i32x4_extmul_low_i16x8 (s14, m5),
                                              wasm_i32x4_extmul_low_i16x8 (s23, m20)));
  lo = wasm_i32x4_shr (wasm_i32x4_add (lo, r), 10);
  if (N == 4)
    return wasm_i16x8_narrow_i32x4 (lo, lo);
  v128_t hi = wasm_i32x4_add (wasm_i32x4_extend_high_i16x8 (s05),
                              wasm_i32x4_add (wasm_i32x4_extmul_high_i16x8 (s14, m5),
                                              wasm_i32x4_extmul_high_i16x8 (s23, m20)));
  hi = wasm_i32x4_shr (wasm_i32x4_add (hi, r), 10);
  return wasm_i16x8_narrow_i32x4 (lo, hi);
}

template <int N>
FC_INLINE v128_t CenterPel (const int16_t* t) {
  if (N == 16)
    return wasm_u8x16_narrow_i16x8 (CenterLanes<8> (t), CenterLanes<8> (t + 8));
  const v128_t v = CenterLanes<N> (t);
  return wasm_u8x16_narrow_i16x8 (v, v);
}

// ---------------------------------------------------------------------------
// Scalar kernels for blocks too narrow for a vector chunk (luma width < 4;
// OpenH264 never asks for one, but the C kernels accept it).

inline int32_t ClipPx (int32_t v) {
  return v < 0 ? 0 : (v > 255 ? 255 : v);
}
inline int32_t Tap6Px (const uint8_t* p, int32_t o) {
  return (p[-2 * o] + p[3 * o]) - 5 * (p[-o] + p[2 * o]) + 20 * (p[0] + p[o]);
}
inline int32_t HalfPx (const uint8_t* p, int32_t o) {
  return ClipPx ((Tap6Px (p, o) + 16) >> 5);
}
inline int32_t CenterPx (const uint8_t* p, int32_t s) {
  int32_t t[6];
  for (int k = 0; k < 6; k++)
    t[k] = Tap6Px (p - 2 + k, s);
  return ClipPx (((t[0] + t[5]) - 5 * (t[1] + t[4]) + 20 * (t[2] + t[3]) + 512) >> 10);
}

// One quarter-pel luma sample at p for fractions (x, y), as the table of
// McLuma_c combines them.
inline uint8_t LumaPx (const uint8_t* p, int32_t s, int32_t x, int32_t y) {
  auto avg = [] (int32_t a, int32_t b) {
    return (uint8_t) ((a + b + 1) >> 1);
  };
  switch (x * 4 + y) {
  case 0x0: return p[0];
  case 0x1: return avg (p[0], HalfPx (p, s));
  case 0x2: return (uint8_t) HalfPx (p, s);
  case 0x3: return avg (p[s], HalfPx (p, s));
  case 0x4: return avg (p[0], HalfPx (p, 1));
  case 0x5: return avg (HalfPx (p, 1), HalfPx (p, s));
  case 0x6: return avg (HalfPx (p, s), CenterPx (p, s));
  case 0x7: return avg (HalfPx (p + s, 1), HalfPx (p, s));
  case 0x8: return (uint8_t) HalfPx (p, 1);
  case 0x9: return avg (HalfPx (p, 1), CenterPx (p, s));
  case 0xa: return (uint8_t) CenterPx (p, s);
  case 0xb: return avg (HalfPx (p + s, 1), CenterPx (p, s));
  case 0xc: return avg (p[1], HalfPx (p, 1));
  case 0xd: return avg (HalfPx (p, 1), HalfPx (p + 1, s));
  case 0xe: return avg (HalfPx (p + 1, s), CenterPx (p, s));
  default:  return avg (HalfPx (p + s, 1), HalfPx (p + 1, s));
  }
}

void LumaScalar (const uint8_t* pSrc, int32_t iSrcStride, uint8_t* pDst, int32_t iDstStride, int32_t x, int32_t y,
                 int32_t iWidth, int32_t iHeight) {
  for (int32_t i = 0; i < iHeight; i++) {
    for (int32_t j = 0; j < iWidth; j++)
      pDst[j] = LumaPx (pSrc + j, iSrcStride, x, y);
    pSrc += iSrcStride;
    pDst += iDstStride;
  }
}

// ---------------------------------------------------------------------------
// Luma quarter-pel MC in N-wide chunks (N = 4, 8, 16; iWidth >= N).

// W is the width when known at compile time (0: iWidth).
template <int N, int W>
void LumaBlock (const uint8_t* pSrc, int32_t s, uint8_t* pDst, int32_t iDstStride, int32_t x, int32_t y,
                int32_t iWidthAny, int32_t iHeight) {
  const int32_t iWidth = W ? W : iWidthAny;
  auto px = [&] (int32_t i, int32_t c) {
    return pSrc + i * s + c;
  };
  const int32_t kiPos = x * 4 + y;
  if (kiPos == 0x6 || kiPos == 0x9 || kiPos == 0xa || kiPos == 0xb || kiPos == 0xe) {
    // Positions that need the centre sample, in bands of kTmpRows rows.
    int16_t iTmp[kTmpRows * kTmpStride];
    for (int32_t r = 0; r < iHeight; r += kTmpRows) {
      const int32_t kiRows = iHeight - r < kTmpRows ? iHeight - r : kTmpRows;
      const uint8_t* pBand = pSrc + r * s;
      CenterVertical (pBand, s, iWidth, kiRows, iTmp);
      auto ctr = [&] (int32_t i, int32_t c) {
        return CenterPel<N> (iTmp + i * kTmpStride + c);
      };
      auto at = [&] (int32_t i, int32_t c) {
        return pBand + i * s + c;
      };
      uint8_t* pOut = pDst + r * iDstStride;
      switch (kiPos) {
      case 0x6: // (1, 2): vertical half-pel and centre
        ForChunks<N> (pOut, iDstStride, iWidth, kiRows, [&] (int32_t i, int32_t c) {
          return wasm_u8x16_avgr (HalfPel<N> (at (i, c), s), ctr (i, c));
        });
        break;
      case 0x9: // (2, 1): horizontal half-pel and centre
        ForChunks<N> (pOut, iDstStride, iWidth, kiRows, [&] (int32_t i, int32_t c) {
          return wasm_u8x16_avgr (HalfPel<N> (at (i, c), 1), ctr (i, c));
        });
        break;
      case 0xa: // (2, 2): centre
        ForChunks<N> (pOut, iDstStride, iWidth, kiRows, ctr);
        break;
      case 0xb: // (2, 3): horizontal half-pel one row down, and centre
        ForChunks<N> (pOut, iDstStride, iWidth, kiRows, [&] (int32_t i, int32_t c) {
          return wasm_u8x16_avgr (HalfPel<N> (at (i + 1, c), 1), ctr (i, c));
        });
        break;
      default: // 0xe, (3, 2): vertical half-pel one column right, and centre
        ForChunks<N> (pOut, iDstStride, iWidth, kiRows, [&] (int32_t i, int32_t c) {
          return wasm_u8x16_avgr (HalfPel<N> (at (i, c + 1), s), ctr (i, c));
        });
        break;
      }
    }
    return;
  }
  switch (kiPos) {
  case 0x0:
    ForChunks<N> (pDst, iDstStride, iWidth, iHeight, [&] (int32_t i, int32_t c) {
      return LoadPx<N> (px (i, c));
    });
    break;
  case 0x1:
    ForChunks<N> (pDst, iDstStride, iWidth, iHeight, [&] (int32_t i, int32_t c) {
      return wasm_u8x16_avgr (LoadPx<N> (px (i, c)), HalfPel<N> (px (i, c), s));
    });
    break;
  case 0x2:
    ForChunks<N> (pDst, iDstStride, iWidth, iHeight, [&] (int32_t i, int32_t c) {
      return HalfPel<N> (px (i, c), s);
    });
    break;
  case 0x3:
    ForChunks<N> (pDst, iDstStride, iWidth, iHeight, [&] (int32_t i, int32_t c) {
      return wasm_u8x16_avgr (LoadPx<N> (px (i + 1, c)), HalfPel<N> (px (i, c), s));
    });
    break;
  case 0x4:
    ForChunks<N> (pDst, iDstStride, iWidth, iHeight, [&] (int32_t i, int32_t c) {
      return wasm_u8x16_avgr (LoadPx<N> (px (i, c)), HalfPel<N> (px (i, c), 1));
    });
    break;
  case 0x5:
    ForChunks<N> (pDst, iDstStride, iWidth, iHeight, [&] (int32_t i, int32_t c) {
      return wasm_u8x16_avgr (HalfPel<N> (px (i, c), 1), HalfPel<N> (px (i, c), s));
    });
    break;
  case 0x7:
    ForChunks<N> (pDst, iDstStride, iWidth, iHeight, [&] (int32_t i, int32_t c) {
      return wasm_u8x16_avgr (HalfPel<N> (px (i + 1, c), 1), HalfPel<N> (px (i, c), s));
    });
    break;
  case 0x8:
    ForChunks<N> (pDst, iDstStride, iWidth, iHeight, [&] (int32_t i, int32_t c) {
      return HalfPel<N> (px (i, c), 1);
    });
    break;
  case 0xc:
    ForChunks<N> (pDst, iDstStride, iWidth, iHeight, [&] (int32_t i, int32_t c) {
      return wasm_u8x16_avgr (LoadPx<N> (px (i, c + 1)), HalfPel<N> (px (i, c), 1));
    });
    break;
  case 0xd:
    ForChunks<N> (pDst, iDstStride, iWidth, iHeight, [&] (int32_t i, int32_t c) {
      return wasm_u8x16_avgr (HalfPel<N> (px (i, c), 1), HalfPel<N> (px (i, c + 1), s));
    });
    break;
  default: // 0xf
    ForChunks<N> (pDst, iDstStride, iWidth, iHeight, [&] (int32_t i, int32_t c) {
      return wasm_u8x16_avgr (HalfPel<N> (px (i + 1, c), 1), HalfPel<N> (px (i, c + 1), s));
    });
    break;
  }
}

// Chooses the chunk width for iWidth; the decoder's 16, 8 and 4 get their
// own instantiation each, so the chunk loops unroll.
void LumaAny (const uint8_t* pSrc, int32_t iSrcStride, uint8_t* pDst, int32_t iDstStride, int32_t x, int32_t y,
              int32_t iWidth, int32_t iHeight) {
  if (iWidth < 4 || iWidth > kCenterMaxWidth) {
    LumaScalar (pSrc, iSrcStride, pDst, iDstStride, x, y, iWidth, iHeight);
    return;
  }
  switch (iWidth) {
  case 16:
    LumaBlock<16, 16> (pSrc, iSrcStride, pDst, iDstStride, x, y, 16, iHeight);
    break;
  case 8:
    LumaBlock<8, 8> (pSrc, iSrcStride, pDst, iDstStride, x, y, 8, iHeight);
    break;
  case 4:
    LumaBlock<4, 4> (pSrc, iSrcStride, pDst, iDstStride, x, y, 4, iHeight);
    break;
  default:
    if (iWidth >= 16)
      LumaBlock<16, 0> (pSrc, iSrcStride, pDst, iDstStride, x, y, iWidth, iHeight);
    else if (iWidth >= 8)
      LumaBlock<8, 0> (pSrc, iSrcStride, pDst, iDstStride, x, y, iWidth, iHeight);
    else
      LumaBlock<4, 0> (pSrc, iSrcStride, pDst, iDstStride, x, y, iWidth, iHeight);
    break;
  }
}

void McLumaSimd (const uint8_t* pSrc, int32_t iSrcStride, uint8_t* pDst, int32_t iDstStride, int16_t iMvX,
                 int16_t iMvY, int32_t iWidth, int32_t iHeight) {
  LumaAny (pSrc, iSrcStride, pDst, iDstStride, iMvX & 3, iMvY & 3, iWidth, iHeight);
}

void McHorVer20Simd (const uint8_t* pSrc, int32_t iSrcStride, uint8_t* pDst, int32_t iDstStride, int32_t iWidth,
                     int32_t iHeight) {
  LumaAny (pSrc, iSrcStride, pDst, iDstStride, 2, 0, iWidth, iHeight);
}

void McHorVer02Simd (const uint8_t* pSrc, int32_t iSrcStride, uint8_t* pDst, int32_t iDstStride, int32_t iWidth,
                     int32_t iHeight) {
  LumaAny (pSrc, iSrcStride, pDst, iDstStride, 0, 2, iWidth, iHeight);
}

void McHorVer22Simd (const uint8_t* pSrc, int32_t iSrcStride, uint8_t* pDst, int32_t iDstStride, int32_t iWidth,
                     int32_t iHeight) {
  LumaAny (pSrc, iSrcStride, pDst, iDstStride, 2, 2, iWidth, iHeight);
}

// ---------------------------------------------------------------------------
// Chroma: (A*a + B*b + C*c + D*d + 32) >> 6 with A..D from the eighth-pel
// fraction; A + B + C + D = 64, so every sum fits unsigned 16-bit lanes.

template <int N>
void ChromaBlock (const uint8_t* pSrc, int32_t iSrcStride, uint8_t* pDst, int32_t iDstStride, int32_t dx,
                  int32_t dy, int32_t iWidth, int32_t iHeight) {
  const v128_t a = wasm_i16x8_splat ((int16_t) ((8 - dx) * (8 - dy)));
  const v128_t b = wasm_i16x8_splat ((int16_t) (dx * (8 - dy)));
  const v128_t c = wasm_i16x8_splat ((int16_t) ((8 - dx) * dy));
  const v128_t d = wasm_i16x8_splat ((int16_t) (dx * dy));
  const v128_t r = wasm_i16x8_splat (32);
  for (int32_t j = 0;; j += N) {
    if (j + N > iWidth)
      j = iWidth - N;
    const uint8_t* p = pSrc + j;
    uint8_t* q = pDst + j;
    // Each source row is the lower row of one output and the upper of the next.
    v128_t s0 = LoadWide<N> (p);
    v128_t s1 = LoadWide<N> (p + 1);
#pragma clang loop unroll_count(2)
    for (int32_t i = 0; i < iHeight; i++) {
      p += iSrcStride;
      const v128_t n0 = LoadWide<N> (p);
      const v128_t n1 = LoadWide<N> (p + 1);
      v128_t v = wasm_i16x8_add (wasm_i16x8_add (wasm_i16x8_mul (s0, a), wasm_i16x8_mul (s1, b)),
                                 wasm_i16x8_add (wasm_i16x8_mul (n0, c), wasm_i16x8_mul (n1, d)));
      v = wasm_u16x8_shr (wasm_i16x8_add (v, r), 6);
      StorePx<N> (q, wasm_u8x16_narrow_i16x8 (v, v));
      q += iDstStride;
      s0 = n0;
      s1 = n1;
    }
    if (j + N >= iWidth)
      break;
  }
}

// ChromaBlock for one chunk (iWidth == N) of a fixed height H, fully
// unrolled. Wasmtime's code for the row loop above carries the four weights,
// the rounding constant and the two previous rows from one iteration to the
// next through stack slots (stored at the end of every row, reloaded at the
// top) and checks the epoch counter on every row; without a loop the values
// stay in registers and neither is needed. Same arithmetic as ChromaBlock.
template <int N, int H>
void ChromaFixed (const uint8_t* pSrc, int32_t iSrcStride, uint8_t* pDst, int32_t iDstStride, int32_t dx,
                  int32_t dy) {
  const v128_t a = wasm_i16x8_splat ((int16_t) ((8 - dx) * (8 - dy)));
  const v128_t b = wasm_i16x8_splat ((int16_t) (dx * (8 - dy)));
  const v128_t c = wasm_i16x8_splat ((int16_t) ((8 - dx) * dy));
  const v128_t d = wasm_i16x8_splat ((int16_t) (dx * dy));
  const v128_t r = wasm_i16x8_splat (32);
  v128_t s0[H + 1], s1[H + 1];
#pragma clang loop unroll(full)
  for (int i = 0; i <= H; i++) {
    s0[i] = LoadWide<N> (pSrc + i * iSrcStride);
    s1[i] = LoadWide<N> (pSrc + i * iSrcStride + 1);
  }
#pragma clang loop unroll(full)
  for (int i = 0; i < H; i++) {
    v128_t v = wasm_i16x8_add (wasm_i16x8_add (wasm_i16x8_mul (s0[i], a), wasm_i16x8_mul (s1[i], b)),
                               wasm_i16x8_add (wasm_i16x8_mul (s0[i + 1], c), wasm_i16x8_mul (s1[i + 1], d)));
    v = wasm_u16x8_shr (wasm_i16x8_add (v, r), 6);
    StorePx<N> (pDst + i * iDstStride, wasm_u8x16_narrow_i16x8 (v, v));
  }
}

// The decoder's chroma blocks: widths 8, 4, 2 with heights 8, 4 or 2 (half
// the luma partition's). Returns false for any other shape.
template <int N>
FC_INLINE bool ChromaFixedAny (const uint8_t* pSrc, int32_t iSrcStride, uint8_t* pDst, int32_t iDstStride,
                               int32_t dx, int32_t dy, int32_t iHeight) {
  switch (iHeight) {
  case 8:
    ChromaFixed<N, 8> (pSrc, iSrcStride, pDst, iDstStride, dx, dy);
    return true;
  case 4:
    ChromaFixed<N, 4> (pSrc, iSrcStride, pDst, iDstStride, dx, dy);
    return true;
  case 2:
    ChromaFixed<N, 2> (pSrc, iSrcStride, pDst, iDstStride, dx, dy);
    return true;
  default:
    return false;
  }
}

template <int N>
void CopyBlock (const uint8_t* pSrc, int32_t iSrcStride, uint8_t* pDst, int32_t iDstStride, int32_t iWidth,
                int32_t iHeight) {
  ForChunks<N> (pDst, iDstStride, iWidth, iHeight, [&] (int32_t i, int32_t c) {
    return LoadPx<N> (pSrc + i * iSrcStride + c);
  });
}

void McChromaSimd (const uint8_t* pSrc, int32_t iSrcStride, uint8_t* pDst, int32_t iDstStride, int16_t iMvX,
                   int16_t iMvY, int32_t iWidth, int32_t iHeight) {
  const int32_t dx = iMvX & 7;
  const int32_t dy = iMvY & 7;
  if (dx == 0 && dy == 0) {
    if (iWidth >= 16)
      CopyBlock<16> (pSrc, iSrcStride, pDst, iDstStride, iWidth, iHeight);
    else if (iWidth >= 8)
      CopyBlock<8> (pSrc, iSrcStride, pDst, iDstStride, iWidth, iHeight);
    else if (iWidth >= 4)
      CopyBlock<4> (pSrc, iSrcStride, pDst, iDstStride, iWidth, iHeight);
    else
      CopyBlock<2> (pSrc, iSrcStride, pDst, iDstStride, iWidth, iHeight);
    return;
  }
  if (iWidth == 8 && ChromaFixedAny<8> (pSrc, iSrcStride, pDst, iDstStride, dx, dy, iHeight))
    return;
  if (iWidth == 4 && ChromaFixedAny<4> (pSrc, iSrcStride, pDst, iDstStride, dx, dy, iHeight))
    return;
  if (iWidth == 2 && ChromaFixedAny<2> (pSrc, iSrcStride, pDst, iDstStride, dx, dy, iHeight))
    return;
  if (iWidth >= 8)
    ChromaBlock<8> (pSrc, iSrcStride, pDst, iDstStride, dx, dy, iWidth, iHeight);
  else if (iWidth >= 4)
    ChromaBlock<4> (pSrc, iSrcStride, pDst, iDstStride, dx, dy, iWidth, iHeight);
  else
    ChromaBlock<2> (pSrc, iSrcStride, pDst, iDstStride, dx, dy, iWidth, iHeight);
}

// ---------------------------------------------------------------------------
// (a + b + 1) >> 1 of two blocks, which is what avgr computes.

template <int N>
void AvgBlock (uint8_t* pDst, int32_t iDstStride, const uint8_t* pA, int32_t iAStride, const uint8_t* pB,
               int32_t iBStride, int32_t iWidth, int32_t iHeight) {
  ForChunks<N> (pDst, iDstStride, iWidth, iHeight, [&] (int32_t i, int32_t c) {
    return wasm_u8x16_avgr (LoadPx<N> (pA + i * iAStride + c), LoadPx<N> (pB + i * iBStride + c));
  });
}

void PixelAvgSimd (uint8_t* pDst, int32_t iDstStride, const uint8_t* pA, int32_t iAStride, const uint8_t* pB,
                   int32_t iBStride, int32_t iWidth, int32_t iHeight) {
  if (iWidth >= 16)
    AvgBlock<16> (pDst, iDstStride, pA, iAStride, pB, iBStride, iWidth, iHeight);
  else if (iWidth >= 8)
    AvgBlock<8> (pDst, iDstStride, pA, iAStride, pB, iBStride, iWidth, iHeight);
  else if (iWidth >= 4)
    AvgBlock<4> (pDst, iDstStride, pA, iAStride, pB, iBStride, iWidth, iHeight);
  else if (iWidth >= 2)
    AvgBlock<2> (pDst, iDstStride, pA, iAStride, pB, iBStride, iWidth, iHeight);
  else
    for (int32_t i = 0; i < iHeight && iWidth == 1; i++)
      pDst[i * iDstStride] = (uint8_t) ((pA[i * iAStride] + pB[i * iBStride] + 1) >> 1);
}

} // namespace

namespace WelsCommon {

void FramechainSimdInitMcFunc (SMcFunc* pMcFuncs, uint32_t uiCpuFlag) {
  InitMcFunc (pMcFuncs, uiCpuFlag);
  pMcFuncs->pMcLumaFunc = McLumaSimd;
  pMcFuncs->pMcChromaFunc = McChromaSimd;
  pMcFuncs->pfLumaHalfpelHor = McHorVer20Simd;
  pMcFuncs->pfLumaHalfpelVer = McHorVer02Simd;
  pMcFuncs->pfLumaHalfpelCen = McHorVer22Simd;
  pMcFuncs->pfSampleAveraging = PixelAvgSimd;
}

} // namespace WelsCommon
