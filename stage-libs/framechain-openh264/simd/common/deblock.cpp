// Deblocking filters for wasm32 with 128-bit SIMD.
//
// Replaces, for both codecs, the C edge filters of
// common/src/deblocking_common.cpp: DeblockLuma{Lt4,Eq4}{V,H}_c and
// DeblockChroma{Lt4,Eq4}{V,H}_c. build/simd.rs renames the references in
// the decoder and encoder parts (their DeblockingInit tables) to the
// FramechainSimd* functions below; common's C versions stay defined.
//
// One call filters one edge of 16 luma or 8 + 8 chroma pixels; each of
// those lines is a SIMD lane. A horizontal edge (V) has its lines in
// memory rows already; a vertical edge (H) is transposed in, filtered as
// rows, and transposed back. The arithmetic runs in 16-bit lanes with the
// C kernels' formulas, so the output is theirs, bit for bit. Like the C
// kernels, only the pixels a filter may change are stored (unchanged ones
// get their own value back).

#include "deblocking_common.h"

#include "wasm_simd.h"

namespace {

FC_INLINE v128_t Lo16 (v128_t v) {
  return wasm_u16x8_extend_low_u8x16 (v);
}
FC_INLINE v128_t Hi16 (v128_t v) {
  return wasm_u16x8_extend_high_u8x16 (v);
}
FC_INLINE v128_t Bytes (v128_t lo, v128_t hi) {
  return wasm_u8x16_narrow_i16x8 (lo, hi);
}

// ---------------------------------------------------------------------------
// Transposes.

// 16 rows of 8 bytes at p (row i at p + i * stride) into 8 columns of 16.
FC_INLINE void Load16x8T (const uint8_t* p, int32_t s, v128_t c[8]) {
  v128_t a[8];
  for (int k = 0; k < 8; k++)
    a[k] = wasm_i8x16_shuffle (wasm_v128_load64_zero (p + 2 * k * s), wasm_v128_load64_zero (p + (2 * k + 1) * s),
                               0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  // a[k]: column j of rows 2k, 2k+1 in 16-bit unit j.
  v128_t b[8];
  for (int k = 0; k < 4; k++) {
    b[2 * k] = wasm_i16x8_shuffle (a[2 * k], a[2 * k + 1], 0, 8, 1, 9, 2, 10, 3, 11);
    b[2 * k + 1] = wasm_i16x8_shuffle (a[2 * k], a[2 * k + 1], 4, 12, 5, 13, 6, 14, 7, 15);
  }
  // b[2k]: columns 0..3 of rows 4k..4k+3 in 32-bit units; b[2k+1]: columns 4..7.
  v128_t d[8];
  for (int h = 0; h < 2; h++) {
    const v128_t* bb = b + 4 * h;
    d[4 * h + 0] = wasm_i32x4_shuffle (bb[0], bb[2], 0, 4, 1, 5);
    d[4 * h + 1] = wasm_i32x4_shuffle (bb[0], bb[2], 2, 6, 3, 7);
    d[4 * h + 2] = wasm_i32x4_shuffle (bb[1], bb[3], 0, 4, 1, 5);
    d[4 * h + 3] = wasm_i32x4_shuffle (bb[1], bb[3], 2, 6, 3, 7);
  }
  // d[4h + m]: columns 2m, 2m+1 of rows 8h..8h+7 in 64-bit units.
  for (int m = 0; m < 4; m++) {
    c[2 * m] = wasm_i64x2_shuffle (d[m], d[4 + m], 0, 2);
    c[2 * m + 1] = wasm_i64x2_shuffle (d[m], d[4 + m], 1, 3);
  }
}

// The reverse: 8 columns of 16 back to 16 rows of 8 bytes at p.
FC_INLINE void Store16x8T (uint8_t* p, int32_t s, const v128_t c[8]) {
  v128_t a[8];
  for (int k = 0; k < 4; k++) {
    a[2 * k] = wasm_i8x16_shuffle (c[2 * k], c[2 * k + 1], 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    a[2 * k + 1] = wasm_i8x16_shuffle (c[2 * k], c[2 * k + 1], 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30,
                                       15, 31);
  }
  // a[2k]: columns 2k, 2k+1 of rows 0..7 in 16-bit units; a[2k+1]: rows 8..15.
  for (int h = 0; h < 2; h++) {
    const v128_t lo03 = wasm_i16x8_shuffle (a[h], a[2 + h], 0, 8, 1, 9, 2, 10, 3, 11);
    const v128_t lo47 = wasm_i16x8_shuffle (a[h], a[2 + h], 4, 12, 5, 13, 6, 14, 7, 15);
    const v128_t hi03 = wasm_i16x8_shuffle (a[4 + h], a[6 + h], 0, 8, 1, 9, 2, 10, 3, 11);
    const v128_t hi47 = wasm_i16x8_shuffle (a[4 + h], a[6 + h], 4, 12, 5, 13, 6, 14, 7, 15);
    // lo03: columns 0..3 of rows 8h..8h+3 in 32-bit units; hi03: columns 4..7.
    const v128_t r01 = wasm_i32x4_shuffle (lo03, hi03, 0, 4, 1, 5);
    const v128_t r23 = wasm_i32x4_shuffle (lo03, hi03, 2, 6, 3, 7);
    const v128_t r45 = wasm_i32x4_shuffle (lo47, hi47, 0, 4, 1, 5);
    const v128_t r67 = wasm_i32x4_shuffle (lo47, hi47, 2, 6, 3, 7);
    uint8_t* q = p + 8 * h * s;
    wasm_v128_store64_lane (q, r01, 0);
    wasm_v128_store64_lane (q + s, r01, 1);
    wasm_v128_store64_lane (q + 2 * s, r23, 0);
    wasm_v128_store64_lane (q + 3 * s, r23, 1);
    wasm_v128_store64_lane (q + 4 * s, r45, 0);
    wasm_v128_store64_lane (q + 5 * s, r45, 1);
    wasm_v128_store64_lane (q + 6 * s, r67, 0);
    wasm_v128_store64_lane (q + 7 * s, r67, 1);
  }
}

// Four columns of 16 back to 16 rows of 4 bytes at p.
FC_INLINE void Store16x4T (uint8_t* p, int32_t s, v128_t c0, v128_t c1, v128_t c2, v128_t c3) {
  const v128_t a01l = wasm_i8x16_shuffle (c0, c1, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const v128_t a01h = wasm_i8x16_shuffle (c0, c1, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const v128_t a23l = wasm_i8x16_shuffle (c2, c3, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const v128_t a23h = wasm_i8x16_shuffle (c2, c3, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const v128_t r[4] = {
    wasm_i16x8_shuffle (a01l, a23l, 0, 8, 1, 9, 2, 10, 3, 11),
    wasm_i16x8_shuffle (a01l, a23l, 4, 12, 5, 13, 6, 14, 7, 15),
    wasm_i16x8_shuffle (a01h, a23h, 0, 8, 1, 9, 2, 10, 3, 11),
    wasm_i16x8_shuffle (a01h, a23h, 4, 12, 5, 13, 6, 14, 7, 15),
  };
  for (int k = 0; k < 4; k++) {
    uint8_t* q = p + 4 * k * s;
    wasm_v128_store32_lane (q, r[k], 0);
    wasm_v128_store32_lane (q + s, r[k], 1);
    wasm_v128_store32_lane (q + 2 * s, r[k], 2);
    wasm_v128_store32_lane (q + 3 * s, r[k], 3);
  }
}

// ---------------------------------------------------------------------------
// Luma, 8 lines per call in 16-bit lanes.

struct Luma {
  v128_t p3, p2, p1, p0, q0, q1, q2, q3;
};

// bS < 4: tc0 per line (negative: line left alone).
FC_INLINE void LumaLt4 (Luma& l, v128_t alpha, v128_t beta, v128_t tc0) {
  const v128_t mask = wasm_v128_and (
                        wasm_v128_and (FcAbsDiffLt (l.p0, l.q0, alpha), FcAbsDiffLt (l.p1, l.p0, beta)),
                        wasm_v128_and (FcAbsDiffLt (l.q1, l.q0, beta), wasm_i16x8_gt (tc0, wasm_i16x8_splat (-1))));
  const v128_t ap = wasm_v128_and (mask, FcAbsDiffLt (l.p2, l.p0, beta));
  const v128_t aq = wasm_v128_and (mask, FcAbsDiffLt (l.q2, l.q0, beta));
  const v128_t ntc0 = wasm_i16x8_neg (tc0);
  const v128_t avg = wasm_u16x8_avgr (l.p0, l.q0); // (p0 + q0 + 1) >> 1
  const v128_t dp1 = FcClamp16 (wasm_i16x8_shr (wasm_i16x8_sub (wasm_i16x8_add (l.p2, avg), wasm_i16x8_shl (l.p1, 1)),
                                1), ntc0, tc0);
  const v128_t dq1 = FcClamp16 (wasm_i16x8_shr (wasm_i16x8_sub (wasm_i16x8_add (l.q2, avg), wasm_i16x8_shl (l.q1, 1)),
                                1), ntc0, tc0);
  // tc = tc0 + 1 for each side whose p1 / q1 is filtered (masks are -1).
  const v128_t tc = wasm_i16x8_sub (wasm_i16x8_sub (tc0, ap), aq);
  v128_t d = wasm_i16x8_add (wasm_i16x8_shl (wasm_i16x8_sub (l.q0, l.p0), 2), wasm_i16x8_sub (l.p1, l.q1));
  d = FcClamp16 (wasm_i16x8_shr (wasm_i16x8_add (d, wasm_i16x8_splat (4)), 3), wasm_i16x8_neg (tc), tc);
  // p0 + d and q0 - d are clipped to 0..255 by the byte narrowing.
  l.p0 = wasm_v128_bitselect (wasm_i16x8_add (l.p0, d), l.p0, mask);
  l.q0 = wasm_v128_bitselect (wasm_i16x8_sub (l.q0, d), l.q0, mask);
  l.p1 = wasm_v128_bitselect (wasm_i16x8_add (l.p1, dp1), l.p1, ap);
  l.q1 = wasm_v128_bitselect (wasm_i16x8_add (l.q1, dq1), l.q1, aq);
}

// bS == 4.
FC_INLINE void LumaEq4 (Luma& l, v128_t alpha, v128_t beta, v128_t strongLimit) {
  const v128_t mask = wasm_v128_and (
                        wasm_v128_and (FcAbsDiffLt (l.p0, l.q0, alpha), FcAbsDiffLt (l.p1, l.p0, beta)),
                        FcAbsDiffLt (l.q1, l.q0, beta));
  const v128_t strong = wasm_v128_and (mask, FcAbsDiffLt (l.p0, l.q0, strongLimit));
  const v128_t ap = wasm_v128_and (strong, FcAbsDiffLt (l.p2, l.p0, beta));
  const v128_t aq = wasm_v128_and (strong, FcAbsDiffLt (l.q2, l.q0, beta));
  const v128_t two = wasm_i16x8_splat (2);
  const v128_t four = wasm_i16x8_splat (4);
  const v128_t p0q0 = wasm_i16x8_add (l.p0, l.q0);
  // Strong: p0' = (p2 + 2p1 + 2p0 + 2q0 + q1 + 4) >> 3, p1' = (p2 + p1 + p0 + q0 + 2) >> 2,
  // p2' = (2p3 + 3p2 + p1 + p0 + q0 + 4) >> 3; weak: p0' = (2p1 + p0 + q1 + 2) >> 2.
  const v128_t sp = wasm_i16x8_add (wasm_i16x8_add (l.p2, l.p1), p0q0); // p2 + p1 + p0 + q0
  const v128_t sq = wasm_i16x8_add (wasm_i16x8_add (l.q2, l.q1), p0q0);
  const v128_t p0s = wasm_u16x8_shr (wasm_i16x8_add (wasm_i16x8_add (sp, wasm_i16x8_add (l.p1, p0q0)),
                                     wasm_i16x8_add (l.q1, four)), 3);
  const v128_t q0s = wasm_u16x8_shr (wasm_i16x8_add (wasm_i16x8_add (sq, wasm_i16x8_add (l.q1, p0q0)),
                                     wasm_i16x8_add (l.p1, four)), 3);
  const v128_t p1s = wasm_u16x8_shr (wasm_i16x8_add (sp, two), 2);
  const v128_t q1s = wasm_u16x8_shr (wasm_i16x8_add (sq, two), 2);
  const v128_t p2s = wasm_u16x8_shr (wasm_i16x8_add (wasm_i16x8_add (wasm_i16x8_shl (wasm_i16x8_add (l.p3, l.p2), 1),
                                     sp), four), 3);
  const v128_t q2s = wasm_u16x8_shr (wasm_i16x8_add (wasm_i16x8_add (wasm_i16x8_shl (wasm_i16x8_add (l.q3, l.q2), 1),
                                     sq), four), 3);
  const v128_t p0w = wasm_u16x8_shr (wasm_i16x8_add (wasm_i16x8_add (wasm_i16x8_shl (l.p1, 1), l.p0),
                                     wasm_i16x8_add (l.q1, two)), 2);
  const v128_t q0w = wasm_u16x8_shr (wasm_i16x8_add (wasm_i16x8_add (wasm_i16x8_shl (l.q1, 1), l.q0),
                                     wasm_i16x8_add (l.p1, two)), 2);
  l.p0 = wasm_v128_bitselect (wasm_v128_bitselect (p0s, p0w, ap), l.p0, mask);
  l.q0 = wasm_v128_bitselect (wasm_v128_bitselect (q0s, q0w, aq), l.q0, mask);
  l.p1 = wasm_v128_bitselect (p1s, l.p1, ap);
  l.q1 = wasm_v128_bitselect (q1s, l.q1, aq);
  l.p2 = wasm_v128_bitselect (p2s, l.p2, ap);
  l.q2 = wasm_v128_bitselect (q2s, l.q2, aq);
}

// The 16 lines of an edge as bytes (lane = line), p3 .. q3.
struct LumaEdge {
  v128_t v[8];
};

FC_INLINE Luma Half (const LumaEdge& e, bool hi) {
  Luma l;
  v128_t* out[8] = {&l.p3, &l.p2, &l.p1, &l.p0, &l.q0, &l.q1, &l.q2, &l.q3};
  for (int k = 0; k < 8; k++)
    *out[k] = hi ? Hi16 (e.v[k]) : Lo16 (e.v[k]);
  return l;
}

FC_INLINE void Join (LumaEdge& e, const Luma& lo, const Luma& hi) {
  const v128_t Luma::*m[8] = {&Luma::p3, &Luma::p2, &Luma::p1, &Luma::p0, &Luma::q0, &Luma::q1, &Luma::q2, &Luma::q3};
  for (int k = 0; k < 8; k++)
    e.v[k] = Bytes (lo.*m[k], hi.*m[k]);
}

// tc0 of each line: pTc[line / 4], sign-extended; [0] lines 0..7, [1] 8..15.
FC_INLINE void LumaTc (const int8_t* pTc, v128_t tc[2]) {
  const v128_t t = wasm_v128_load32_zero (pTc);
  const v128_t spread = wasm_i8x16_shuffle (t, t, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
  tc[0] = wasm_i16x8_extend_low_i8x16 (spread);
  tc[1] = wasm_i16x8_extend_high_i8x16 (spread);
}

FC_INLINE void LumaLt4Edge (LumaEdge& e, int32_t iAlpha, int32_t iBeta, const int8_t* pTc) {
  v128_t tc[2];
  LumaTc (pTc, tc);
  const v128_t alpha = wasm_i16x8_splat ((int16_t) iAlpha);
  const v128_t beta = wasm_i16x8_splat ((int16_t) iBeta);
  Luma lo = Half (e, false), hi = Half (e, true);
  LumaLt4 (lo, alpha, beta, tc[0]);
  LumaLt4 (hi, alpha, beta, tc[1]);
  Join (e, lo, hi);
}

FC_INLINE void LumaEq4Edge (LumaEdge& e, int32_t iAlpha, int32_t iBeta) {
  const v128_t alpha = wasm_i16x8_splat ((int16_t) iAlpha);
  const v128_t beta = wasm_i16x8_splat ((int16_t) iBeta);
  const v128_t strongLimit = wasm_i16x8_splat ((int16_t) ((iAlpha >> 2) + 2));
  Luma lo = Half (e, false), hi = Half (e, true);
  LumaEq4 (lo, alpha, beta, strongLimit);
  LumaEq4 (hi, alpha, beta, strongLimit);
  Join (e, lo, hi);
}

// ---------------------------------------------------------------------------
// Chroma: 8 Cb lines in lanes 0..7, the 8 Cr lines in lanes 8..15.

struct Chroma {
  v128_t p1, p0, q0, q1;
};

FC_INLINE v128_t ChromaMask (const Chroma& c, v128_t alpha, v128_t beta) {
  return wasm_v128_and (wasm_v128_and (FcAbsDiffLt (c.p0, c.q0, alpha), FcAbsDiffLt (c.p1, c.p0, beta)),
                        FcAbsDiffLt (c.q1, c.q0, beta));
}

// bS < 4: lines with tc0 <= 0 are left alone.
FC_INLINE void ChromaLt4 (Chroma& c, v128_t alpha, v128_t beta, v128_t tc) {
  const v128_t mask = wasm_v128_and (ChromaMask (c, alpha, beta), wasm_i16x8_gt (tc, wasm_i16x8_splat (0)));
  v128_t d = wasm_i16x8_add (wasm_i16x8_shl (wasm_i16x8_sub (c.q0, c.p0), 2), wasm_i16x8_sub (c.p1, c.q1));
  d = FcClamp16 (wasm_i16x8_shr (wasm_i16x8_add (d, wasm_i16x8_splat (4)), 3), wasm_i16x8_neg (tc), tc);
  c.p0 = wasm_v128_bitselect (wasm_i16x8_add (c.p0, d), c.p0, mask);
  c.q0 = wasm_v128_bitselect (wasm_i16x8_sub (c.q0, d), c.q0, mask);
}

// bS == 4: p0' = (2p1 + p0 + q1 + 2) >> 2, q0' likewise.
FC_INLINE void ChromaEq4 (Chroma& c, v128_t alpha, v128_t beta) {
  const v128_t mask = ChromaMask (c, alpha, beta);
  const v128_t two = wasm_i16x8_splat (2);
  const v128_t p0 = wasm_u16x8_shr (wasm_i16x8_add (wasm_i16x8_add (wasm_i16x8_shl (c.p1, 1), c.p0),
                                    wasm_i16x8_add (c.q1, two)), 2);
  const v128_t q0 = wasm_u16x8_shr (wasm_i16x8_add (wasm_i16x8_add (wasm_i16x8_shl (c.q1, 1), c.q0),
                                    wasm_i16x8_add (c.p1, two)), 2);
  c.p0 = wasm_v128_bitselect (p0, c.p0, mask);
  c.q0 = wasm_v128_bitselect (q0, c.q0, mask);
}

// Runs a chroma filter on the 16 lines in bytes (p1, p0, q0, q1); returns the
// new p0 and q0 as bytes.
template <class F>
FC_INLINE void ChromaEdge (const v128_t b[4], v128_t& p0, v128_t& q0, F f) {
  Chroma lo = {Lo16 (b[0]), Lo16 (b[1]), Lo16 (b[2]), Lo16 (b[3])};
  Chroma hi = {Hi16 (b[0]), Hi16 (b[1]), Hi16 (b[2]), Hi16 (b[3])};
  f (lo);
  f (hi);
  p0 = Bytes (lo.p0, hi.p0);
  q0 = Bytes (lo.q0, hi.q0);
}

// tc0 of chroma line i is pTc[i / 2], for Cb and Cr alike.
FC_INLINE v128_t ChromaTc (const int8_t* pTc) {
  const v128_t t = wasm_v128_load32_zero (pTc);
  return wasm_i16x8_extend_low_i8x16 (wasm_i8x16_shuffle (t, t, 0, 0, 1, 1, 2, 2, 3, 3, 0, 0, 1, 1, 2, 2, 3, 3));
}

// Horizontal edge: rows p1 .. q1 of Cb (8 bytes) and Cr side by side.
FC_INLINE void LoadChromaV (const uint8_t* pCb, const uint8_t* pCr, int32_t s, v128_t b[4]) {
  for (int k = 0; k < 4; k++)
    b[k] = wasm_v128_load64_lane (pCr + (k - 2) * s, wasm_v128_load64_zero (pCb + (k - 2) * s), 1);
}

FC_INLINE void StoreChromaV (uint8_t* pCb, uint8_t* pCr, int32_t s, v128_t p0, v128_t q0) {
  wasm_v128_store64_lane (pCb - s, p0, 0);
  wasm_v128_store64_lane (pCr - s, p0, 1);
  wasm_v128_store64_lane (pCb, q0, 0);
  wasm_v128_store64_lane (pCr, q0, 1);
}

// Vertical edge: columns -2 .. 1 of 8 Cb rows then 8 Cr rows, transposed.
FC_INLINE void LoadChromaH (const uint8_t* pCb, const uint8_t* pCr, int32_t s, v128_t b[4]) {
  v128_t r[4];
  const uint8_t* src[4] = {pCb - 2, pCb - 2 + 4 * s, pCr - 2, pCr - 2 + 4 * s};
  for (int k = 0; k < 4; k++) {
    v128_t v = wasm_v128_load32_zero (src[k]);
    v = wasm_v128_load32_lane (src[k] + s, v, 1);
    v = wasm_v128_load32_lane (src[k] + 2 * s, v, 2);
    v = wasm_v128_load32_lane (src[k] + 3 * s, v, 3);
    // Column j of these 4 rows into 32-bit unit j.
    r[k] = wasm_i8x16_shuffle (v, v, 0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  }
  const v128_t cb01 = wasm_i32x4_shuffle (r[0], r[1], 0, 4, 1, 5); // columns 0, 1 of Cb rows 0..7
  const v128_t cb23 = wasm_i32x4_shuffle (r[0], r[1], 2, 6, 3, 7);
  const v128_t cr01 = wasm_i32x4_shuffle (r[2], r[3], 0, 4, 1, 5);
  const v128_t cr23 = wasm_i32x4_shuffle (r[2], r[3], 2, 6, 3, 7);
  b[0] = wasm_i64x2_shuffle (cb01, cr01, 0, 2);
  b[1] = wasm_i64x2_shuffle (cb01, cr01, 1, 3);
  b[2] = wasm_i64x2_shuffle (cb23, cr23, 0, 2);
  b[3] = wasm_i64x2_shuffle (cb23, cr23, 1, 3);
}

FC_INLINE void StoreChromaH (uint8_t* pCb, uint8_t* pCr, int32_t s, v128_t p0, v128_t q0) {
  const v128_t lo = wasm_i8x16_shuffle (p0, q0, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const v128_t hi = wasm_i8x16_shuffle (p0, q0, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  uint8_t* cb = pCb - 1;
  uint8_t* cr = pCr - 1;
  wasm_v128_store16_lane (cb, lo, 0);
  wasm_v128_store16_lane (cb + s, lo, 1);
  wasm_v128_store16_lane (cb + 2 * s, lo, 2);
  wasm_v128_store16_lane (cb + 3 * s, lo, 3);
  wasm_v128_store16_lane (cb + 4 * s, lo, 4);
  wasm_v128_store16_lane (cb + 5 * s, lo, 5);
  wasm_v128_store16_lane (cb + 6 * s, lo, 6);
  wasm_v128_store16_lane (cb + 7 * s, lo, 7);
  wasm_v128_store16_lane (cr, hi, 0);
  wasm_v128_store16_lane (cr + s, hi, 1);
  wasm_v128_store16_lane (cr + 2 * s, hi, 2);
  wasm_v128_store16_lane (cr + 3 * s, hi, 3);
  wasm_v128_store16_lane (cr + 4 * s, hi, 4);
  wasm_v128_store16_lane (cr + 5 * s, hi, 5);
  wasm_v128_store16_lane (cr + 6 * s, hi, 6);
  wasm_v128_store16_lane (cr + 7 * s, hi, 7);
}

} // namespace

// Same signatures (global, C++ linkage) as the _c functions they replace:
// the renamed declarations in deblocking_common.h are what the codecs see.

void FramechainSimdDeblockLumaLt4V (uint8_t* pPix, int32_t iStride, int32_t iAlpha, int32_t iBeta, int8_t* pTc) {
  LumaEdge e;
  for (int k = 1; k < 7; k++) // p2 .. q2; p3, q3 are not used
    e.v[k] = wasm_v128_load (pPix + (k - 4) * iStride);
  e.v[0] = e.v[7] = wasm_i64x2_const (0, 0);
  LumaLt4Edge (e, iAlpha, iBeta, pTc);
  for (int k = 2; k < 6; k++) // p1 .. q1
    wasm_v128_store (pPix + (k - 4) * iStride, e.v[k]);
}

void FramechainSimdDeblockLumaLt4H (uint8_t* pPix, int32_t iStride, int32_t iAlpha, int32_t iBeta, int8_t* pTc) {
  LumaEdge e;
  Load16x8T (pPix - 4, iStride, e.v);
  LumaLt4Edge (e, iAlpha, iBeta, pTc);
  Store16x4T (pPix - 2, iStride, e.v[2], e.v[3], e.v[4], e.v[5]);
}

void FramechainSimdDeblockLumaEq4V (uint8_t* pPix, int32_t iStride, int32_t iAlpha, int32_t iBeta) {
  LumaEdge e;
  for (int k = 0; k < 8; k++)
    e.v[k] = wasm_v128_load (pPix + (k - 4) * iStride);
  LumaEq4Edge (e, iAlpha, iBeta);
  for (int k = 1; k < 7; k++) // p2 .. q2
    wasm_v128_store (pPix + (k - 4) * iStride, e.v[k]);
}

void FramechainSimdDeblockLumaEq4H (uint8_t* pPix, int32_t iStride, int32_t iAlpha, int32_t iBeta) {
  LumaEdge e;
  Load16x8T (pPix - 4, iStride, e.v);
  LumaEq4Edge (e, iAlpha, iBeta);
  // p3 and q3 go back unchanged with the rest of each 8-byte row.
  Store16x8T (pPix - 4, iStride, e.v);
}

void FramechainSimdDeblockChromaLt4V (uint8_t* pPixCb, uint8_t* pPixCr, int32_t iStride, int32_t iAlpha,
                                      int32_t iBeta, int8_t* pTc) {
  v128_t b[4], p0, q0;
  LoadChromaV (pPixCb, pPixCr, iStride, b);
  const v128_t alpha = wasm_i16x8_splat ((int16_t) iAlpha), beta = wasm_i16x8_splat ((int16_t) iBeta);
  const v128_t tc = ChromaTc (pTc);
  ChromaEdge (b, p0, q0, [&] (Chroma & c) {
    ChromaLt4 (c, alpha, beta, tc);
  });
  StoreChromaV (pPixCb, pPixCr, iStride, p0, q0);
}

void FramechainSimdDeblockChromaLt4H (uint8_t* pPixCb, uint8_t* pPixCr, int32_t iStride, int32_t iAlpha,
                                      int32_t iBeta, int8_t* pTc) {
  v128_t b[4], p0, q0;
  LoadChromaH (pPixCb, pPixCr, iStride, b);
  const v128_t alpha = wasm_i16x8_splat ((int16_t) iAlpha), beta = wasm_i16x8_splat ((int16_t) iBeta);
  const v128_t tc = ChromaTc (pTc);
  ChromaEdge (b, p0, q0, [&] (Chroma & c) {
    ChromaLt4 (c, alpha, beta, tc);
  });
  StoreChromaH (pPixCb, pPixCr, iStride, p0, q0);
}

void FramechainSimdDeblockChromaEq4V (uint8_t* pPixCb, uint8_t* pPixCr, int32_t iStride, int32_t iAlpha,
                                      int32_t iBeta) {
  v128_t b[4], p0, q0;
  LoadChromaV (pPixCb, pPixCr, iStride, b);
  const v128_t alpha = wasm_i16x8_splat ((int16_t) iAlpha), beta = wasm_i16x8_splat ((int16_t) iBeta);
  ChromaEdge (b, p0, q0, [&] (Chroma & c) {
    ChromaEq4 (c, alpha, beta);
  });
  StoreChromaV (pPixCb, pPixCr, iStride, p0, q0);
}

void FramechainSimdDeblockChromaEq4H (uint8_t* pPixCb, uint8_t* pPixCr, int32_t iStride, int32_t iAlpha,
                                      int32_t iBeta) {
  v128_t b[4], p0, q0;
  LoadChromaH (pPixCb, pPixCr, iStride, b);
  const v128_t alpha = wasm_i16x8_splat ((int16_t) iAlpha), beta = wasm_i16x8_splat ((int16_t) iBeta);
  ChromaEdge (b, p0, q0, [&] (Chroma & c) {
    ChromaEq4 (c, alpha, beta);
  });
  StoreChromaH (pPixCb, pPixCr, iStride, p0, q0);
}
