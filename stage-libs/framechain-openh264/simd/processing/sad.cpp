// The 8x8 SAD of scene change detection (processing/src/scenechangedetection/
// SceneChangeDetection.h picks WelsSampleSad8x8_c when there is no assembly),
// with wasm SIMD128. build/simd.rs renames WelsSampleSad8x8_c throughout the
// processing part to this function; the kernel is the encoder's
// (simd/encoder/sad_simd.h), equal to the C one.

#include "encoder/sad_simd.h"

int32_t FramechainSimdProcessingSad8x8 (uint8_t* p1, int32_t s1, uint8_t* p2, int32_t s2) {
  return FramechainSimd::Sad<8, 8> (p1, s1, p2, s2);
}
