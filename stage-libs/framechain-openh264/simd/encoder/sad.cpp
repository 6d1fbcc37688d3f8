// Sums of absolute differences for motion estimation and mode decision, with
// wasm SIMD128. Replaces WelsSampleSad{16x16,16x8,8x16,8x8,8x4,4x8,4x4}_c and
// WelsSampleSadFour*_c (codec/common/src/sad_common.cpp) in the encoder's
// table (hooks.cpp). Integer sums: the results equal the C ones exactly. The
// kernels themselves are in sad_simd.h.

#include "kernels.h"
#include "sad_simd.h"

namespace FramechainSimd {

int32_t Sad16x16 (uint8_t* a, int32_t sa, uint8_t* b, int32_t sb) { return Sad<16, 16> (a, sa, b, sb); }
int32_t Sad16x8 (uint8_t* a, int32_t sa, uint8_t* b, int32_t sb) { return Sad<16, 8> (a, sa, b, sb); }
int32_t Sad8x16 (uint8_t* a, int32_t sa, uint8_t* b, int32_t sb) { return Sad<8, 16> (a, sa, b, sb); }
int32_t Sad8x8 (uint8_t* a, int32_t sa, uint8_t* b, int32_t sb) { return Sad<8, 8> (a, sa, b, sb); }
int32_t Sad8x4 (uint8_t* a, int32_t sa, uint8_t* b, int32_t sb) { return Sad<8, 4> (a, sa, b, sb); }
int32_t Sad4x8 (uint8_t* a, int32_t sa, uint8_t* b, int32_t sb) { return Sad<4, 8> (a, sa, b, sb); }
int32_t Sad4x4 (uint8_t* a, int32_t sa, uint8_t* b, int32_t sb) { return Sad<4, 4> (a, sa, b, sb); }

void SadFour16x16 (uint8_t* a, int32_t sa, uint8_t* b, int32_t sb, int32_t* s) { SadFour<16, 16> (a, sa, b, sb, s); }
void SadFour16x8 (uint8_t* a, int32_t sa, uint8_t* b, int32_t sb, int32_t* s) { SadFour<16, 8> (a, sa, b, sb, s); }
void SadFour8x16 (uint8_t* a, int32_t sa, uint8_t* b, int32_t sb, int32_t* s) { SadFour<8, 16> (a, sa, b, sb, s); }
void SadFour8x8 (uint8_t* a, int32_t sa, uint8_t* b, int32_t sb, int32_t* s) { SadFour<8, 8> (a, sa, b, sb, s); }
void SadFour8x4 (uint8_t* a, int32_t sa, uint8_t* b, int32_t sb, int32_t* s) { SadFour<8, 4> (a, sa, b, sb, s); }
void SadFour4x8 (uint8_t* a, int32_t sa, uint8_t* b, int32_t sb, int32_t* s) { SadFour<4, 8> (a, sa, b, sb, s); }
void SadFour4x4 (uint8_t* a, int32_t sa, uint8_t* b, int32_t sb, int32_t* s) { SadFour<4, 4> (a, sa, b, sb, s); }

} // namespace FramechainSimd
