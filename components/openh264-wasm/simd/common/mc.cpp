// Motion compensation for wasm32 with 128-bit SIMD.
//
// Both codecs fill their SMcFunc table through InitMcFunc; build/simd.rs
// renames their call to FramechainSimdInitMcFunc, which lets OpenH264 fill
// the table with its C kernels and then puts ours where we have them. Every
// kernel here must give exactly the C kernel's output: decoding stays
// bit-exact and the encoder's stream equals the native one.

#include "mc.h"

namespace WelsCommon {

void FramechainSimdInitMcFunc (SMcFunc* pMcFuncs, uint32_t uiCpuFlag) {
  InitMcFunc (pMcFuncs, uiCpuFlag);
}

} // namespace WelsCommon
