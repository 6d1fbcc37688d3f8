// Sums of absolute 4x4 Hadamard-transformed differences (SATD) with wasm
// SIMD128. Replaces WelsSampleSatd{16x16,16x8,8x16,8x8,8x4,4x8,4x4}_c
// (codec/encoder/core/src/sample.cpp) in the encoder's table (hooks.cpp).
//
// The C kernel sums, per 4x4 block, |coefficient| over the 16 Hadamard
// coefficients of the difference and rounds (sum + 1) >> 1; bigger blocks add
// their 4x4 results. The last butterfly of the transform turns a pair (x, y)
// into x + y and x - y, and |x + y| + |x - y| = 2 * max(|x|, |y|), so each
// block's sum is even and (sum + 1) >> 1 is exactly the sum over the 8 pairs
// of max(|x|, |y|). That is what we add up: no per-block rounding, and the
// result is the C one for every input (the transform is exact in 16 bits:
// coefficients are at most 16 * 255).

#include "kernels.h"
#include "simd_util.h"

namespace FramechainSimd {
namespace {

// Four 4x4 blocks at once. a[r] and b[r] hold row r of each block in bytes
// 4k..4k+3 (block k); a block whose bytes are zero in both adds nothing.
// Returns per-lane sums of max(|x|, |y|), each lane at most 4 * 4080.
inline v128_t SatdFourBlocks (const v128_t a[4], const v128_t b[4]) {
  v128_t s[4], d[4];
  for (int r = 0; r < 4; r++) {
    // Transpose bytes so that lane groups are columns: c0 of blocks 0-3,
    // c1 of blocks 0-3, c2 ..., c3 ...; the horizontal transform is then
    // lane-wise between the low and the high half.
    v128_t at = wasm_i8x16_shuffle (a[r], a[r], 0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    v128_t bt = wasm_i8x16_shuffle (b[r], b[r], 0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    v128_t lo = wasm_i16x8_sub (wasm_u16x8_extend_low_u8x16 (at), wasm_u16x8_extend_low_u8x16 (bt));   // c0 | c1
    v128_t hi = wasm_i16x8_sub (wasm_u16x8_extend_high_u8x16 (at), wasm_u16x8_extend_high_u8x16 (bt)); // c2 | c3
    s[r] = wasm_i16x8_add (lo, hi); // c0 + c2 | c1 + c3
    d[r] = wasm_i16x8_sub (lo, hi); // c0 - c2 | c1 - c3
  }
  // Vertical 4-point Hadamard, lane-wise across rows, on both halves.
  v128_t ys[4], yd[4];
  {
    v128_t u0 = wasm_i16x8_add (s[0], s[2]), u1 = wasm_i16x8_add (s[1], s[3]);
    v128_t u2 = wasm_i16x8_sub (s[0], s[2]), u3 = wasm_i16x8_sub (s[1], s[3]);
    ys[0] = wasm_i16x8_add (u0, u1);
    ys[1] = wasm_i16x8_sub (u0, u1);
    ys[2] = wasm_i16x8_add (u2, u3);
    ys[3] = wasm_i16x8_sub (u2, u3);
    v128_t v0 = wasm_i16x8_add (d[0], d[2]), v1 = wasm_i16x8_add (d[1], d[3]);
    v128_t v2 = wasm_i16x8_sub (d[0], d[2]), v3 = wasm_i16x8_sub (d[1], d[3]);
    yd[0] = wasm_i16x8_add (v0, v1);
    yd[1] = wasm_i16x8_sub (v0, v1);
    yd[2] = wasm_i16x8_add (v2, v3);
    yd[3] = wasm_i16x8_sub (v2, v3);
  }
  // Last horizontal butterfly pairs the low half with the high half.
  v128_t acc = wasm_i16x8_splat (0);
  for (int k = 0; k < 4; k++) {
    v128_t x = wasm_i64x2_shuffle (ys[k], yd[k], 0, 2);
    v128_t y = wasm_i64x2_shuffle (ys[k], yd[k], 1, 3);
    acc = wasm_i16x8_add (acc, wasm_i16x8_max (wasm_i16x8_abs (x), wasm_i16x8_abs (y)));
  }
  return acc;
}

// Blocks 0-3 side by side: a 16x4 area.
inline v128_t Satd16x4 (const uint8_t* p1, int32_t s1, const uint8_t* p2, int32_t s2) {
  v128_t a[4], b[4];
  for (int r = 0; r < 4; r++) {
    a[r] = wasm_v128_load (p1 + r * s1);
    b[r] = wasm_v128_load (p2 + r * s2);
  }
  return SatdFourBlocks (a, b);
}

// Blocks 0, 1 on top of blocks 2, 3: an 8x8 area.
inline v128_t Satd8x8Area (const uint8_t* p1, int32_t s1, const uint8_t* p2, int32_t s2) {
  v128_t a[4], b[4];
  for (int r = 0; r < 4; r++) {
    a[r] = Load8x2 (p1 + r * s1, p1 + (r + 4) * s1);
    b[r] = Load8x2 (p2 + r * s2, p2 + (r + 4) * s2);
  }
  return SatdFourBlocks (a, b);
}

} // namespace

// Up to four SatdFourBlocks results fit the 16-bit lanes (4 * 4 * 4080).
int32_t Satd16x16 (uint8_t* p1, int32_t s1, uint8_t* p2, int32_t s2) {
  v128_t acc = Satd16x4 (p1, s1, p2, s2);
  acc = wasm_i16x8_add (acc, Satd16x4 (p1 + 4 * s1, s1, p2 + 4 * s2, s2));
  acc = wasm_i16x8_add (acc, Satd16x4 (p1 + 8 * s1, s1, p2 + 8 * s2, s2));
  acc = wasm_i16x8_add (acc, Satd16x4 (p1 + 12 * s1, s1, p2 + 12 * s2, s2));
  return SumU16x8 (acc);
}

int32_t Satd16x8 (uint8_t* p1, int32_t s1, uint8_t* p2, int32_t s2) {
  v128_t acc = Satd16x4 (p1, s1, p2, s2);
  acc = wasm_i16x8_add (acc, Satd16x4 (p1 + 4 * s1, s1, p2 + 4 * s2, s2));
  return SumU16x8 (acc);
}

int32_t Satd8x16 (uint8_t* p1, int32_t s1, uint8_t* p2, int32_t s2) {
  v128_t acc = Satd8x8Area (p1, s1, p2, s2);
  acc = wasm_i16x8_add (acc, Satd8x8Area (p1 + 8 * s1, s1, p2 + 8 * s2, s2));
  return SumU16x8 (acc);
}

int32_t Satd8x8 (uint8_t* p1, int32_t s1, uint8_t* p2, int32_t s2) {
  return SumU16x8 (Satd8x8Area (p1, s1, p2, s2));
}

int32_t Satd8x4 (uint8_t* p1, int32_t s1, uint8_t* p2, int32_t s2) {
  v128_t a[4], b[4];
  for (int r = 0; r < 4; r++) {
    a[r] = wasm_v128_load64_zero (p1 + r * s1);
    b[r] = wasm_v128_load64_zero (p2 + r * s2);
  }
  return SumU16x8 (SatdFourBlocks (a, b));
}

int32_t Satd4x8 (uint8_t* p1, int32_t s1, uint8_t* p2, int32_t s2) {
  v128_t a[4], b[4];
  for (int r = 0; r < 4; r++) {
    a[r] = wasm_v128_load32_lane (p1 + (r + 4) * s1, wasm_v128_load32_zero (p1 + r * s1), 1);
    b[r] = wasm_v128_load32_lane (p2 + (r + 4) * s2, wasm_v128_load32_zero (p2 + r * s2), 1);
  }
  return SumU16x8 (SatdFourBlocks (a, b));
}

int32_t Satd4x4 (uint8_t* p1, int32_t s1, uint8_t* p2, int32_t s2) {
  v128_t a[4], b[4];
  for (int r = 0; r < 4; r++) {
    a[r] = wasm_v128_load32_zero (p1 + r * s1);
    b[r] = wasm_v128_load32_zero (p2 + r * s2);
  }
  return SumU16x8 (SatdFourBlocks (a, b));
}

} // namespace FramechainSimd
