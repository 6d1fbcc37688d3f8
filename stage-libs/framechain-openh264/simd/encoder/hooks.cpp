// Puts the encoder's wasm SIMD128 kernels (kernels.h) in its function table.
//
// build/simd.rs renames the call of InitFunctionPointers in encoder_ext.cpp
// to FramechainSimdInitFunctionPointers: OpenH264 fills the table with its C
// kernels as on any CPU without assembly, then we replace the entries we have
// kernels for. Every kernel gives exactly the C kernel's results, so the
// stream equals the one the C (and the x86 assembly) build encodes.
//
// Building with FRAMECHAIN_SIMD_VERIFY defined installs checked kernels
// instead: each runs beside its C kernel and aborts on the first difference,
// naming the kernel (processing/vaa.cpp does the same). Use it when changing
// a kernel: CXXFLAGS_wasm32_wasip2=-DFRAMECHAIN_SIMD_VERIFY cargo build ...,
// then encode a few clips under several settings.

#include "decode_mb_aux.h"
#include "encode_mb_aux.h"
#include "encoder.h"
#include "encoder_context.h"
#include "get_intra_predictor.h"
#include "copy_mb.h"
#include "kernels.h"
#include "sad_common.h"
#include "sample.h"

#ifdef FRAMECHAIN_SIMD_VERIFY
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#endif

namespace WelsEnc {

// Defined in sample.cpp and md.cpp but not declared in their headers.
int32_t WelsSampleSatd8x4_c (uint8_t*, int32_t, uint8_t*, int32_t);
int32_t WelsSampleSatd4x8_c (uint8_t*, int32_t, uint8_t*, int32_t);
int32_t AnalysisVaaInfoIntra_c (uint8_t* pDataY, const int32_t kiLineSize);

int32_t FramechainSimdInitFunctionPointers (sWelsEncCtx* pEncCtx, SWelsSvcCodingParam* pParam, uint32_t uiCpuFlag);

namespace {

#ifdef FRAMECHAIN_SIMD_VERIFY

[[noreturn]] void Mismatch (const char* kName) {
  fprintf (stderr, "framechain simd: %s differs from the C kernel\n", kName);
  abort();
}

template <PSampleSadSatdCostFunc kSimd, PSampleSadSatdCostFunc kC>
int32_t CheckedCost (uint8_t* a, int32_t sa, uint8_t* b, int32_t sb) {
  int32_t x = kSimd (a, sa, b, sb);
  if (x != kC (a, sa, b, sb))
    Mismatch ("a SAD / SATD kernel");
  return x;
}

template <PSample4SadCostFunc kSimd, PSample4SadCostFunc kC>
void CheckedFour (uint8_t* a, int32_t sa, uint8_t* b, int32_t sb, int32_t* s) {
  int32_t t[4];
  kSimd (a, sa, b, sb, s);
  kC (a, sa, b, sb, t);
  if (memcmp (s, t, sizeof t))
    Mismatch ("a SadFour kernel");
}

template <PDctFunc kSimd, PDctFunc kC, int kN>
void CheckedDct (int16_t* d, uint8_t* a, int32_t sa, uint8_t* b, int32_t sb) {
  int16_t t[64];
  kSimd (d, a, sa, b, sb);
  kC (t, a, sa, b, sb);
  if (memcmp (d, t, kN * sizeof (int16_t)))
    Mismatch ("a DCT kernel");
}

template <PQuantizationFunc kSimd, PQuantizationFunc kC, int kN>
void CheckedQuant (int16_t* d, const int16_t* ff, const int16_t* mf) {
  int16_t t[64];
  memcpy (t, d, kN * sizeof (int16_t));
  kSimd (d, ff, mf);
  kC (t, ff, mf);
  if (memcmp (d, t, kN * sizeof (int16_t)))
    Mismatch ("a quantisation kernel");
}

void CheckedQuantDc (int16_t* d, int16_t ff, int16_t mf) {
  int16_t t[16];
  memcpy (t, d, sizeof t);
  FramechainSimd::Quant4x4Dc (d, ff, mf);
  WelsQuant4x4Dc_c (t, ff, mf);
  if (memcmp (d, t, sizeof t))
    Mismatch ("Quant4x4Dc");
}

void CheckedQuantMax (int16_t* d, const int16_t* ff, const int16_t* mf, int16_t* m) {
  int16_t t[64], tm[4];
  memcpy (t, d, sizeof t);
  FramechainSimd::QuantFour4x4Max (d, ff, mf, m);
  WelsQuantFour4x4Max_c (t, ff, mf, tm);
  if (memcmp (d, t, sizeof t) || memcmp (m, tm, sizeof tm))
    Mismatch ("QuantFour4x4Max");
}

template <PIDctFunc kSimd, PIDctFunc kC, int kSize>
void CheckedIDct (uint8_t* rec, int32_t rs, uint8_t* pred, int32_t ps, int16_t* d) {
  uint8_t t[8 * 8];
  int16_t dc[64];
  memcpy (dc, d, sizeof dc);
  kC (t, 8, pred, ps, dc);
  kSimd (rec, rs, pred, ps, d);
  for (int y = 0; y < kSize; y++)
    if (memcmp (rec + y * rs, t + 8 * y, kSize))
      Mismatch ("an IDCT kernel");
}

template <PCopyFunc kSimd, PCopyFunc kC, int kW, int kH>
void CheckedCopy (uint8_t* d, int32_t sd, uint8_t* src, int32_t ss) {
  uint8_t t[16 * 16];
  kC (t, 16, src, ss);
  kSimd (d, sd, src, ss);
  for (int y = 0; y < kH; y++)
    if (memcmp (d + y * sd, t + 16 * y, kW))
      Mismatch ("a copy kernel");
}

template <PGetIntraPredFunc kSimd, PGetIntraPredFunc kC, int kSize>
void CheckedPred (uint8_t* pred, uint8_t* ref, const int32_t stride) {
  uint8_t t[256];
  kC (t, ref, stride);
  kSimd (pred, ref, stride);
  if (memcmp (pred, t, kSize))
    Mismatch ("an intra prediction kernel");
}

template <PDeQuantizationFunc kSimd, PDeQuantizationFunc kC, int kN>
void CheckedDequant (int16_t* d, const uint16_t* mf) {
  int16_t t[64];
  memcpy (t, d, kN * sizeof (int16_t));
  kSimd (d, mf);
  kC (t, mf);
  if (memcmp (d, t, kN * sizeof (int16_t)))
    Mismatch ("a dequantisation kernel");
}

int32_t CheckedNzc (int16_t* d) {
  int32_t n = FramechainSimd::GetNoneZeroCount (d);
  if (n != WelsGetNoneZeroCount_c (d))
    Mismatch ("GetNoneZeroCount");
  return n;
}

template <PScanFunc kSimd, PScanFunc kC>
void CheckedScan (int16_t* l, int16_t* d) {
  int16_t t[16];
  kSimd (l, d);
  kC (t, d);
  if (memcmp (l, t, sizeof t))
    Mismatch ("a scan kernel");
}

int32_t CheckedSingleCtr (int16_t* d) {
  int32_t n = FramechainSimd::CalculateSingleCtr4x4 (d);
  if (n != WelsCalculateSingleCtr4x4_c (d))
    Mismatch ("CalculateSingleCtr4x4");
  return n;
}

int32_t CheckedVaaIntra (uint8_t* p, const int32_t s) {
  int32_t n = FramechainSimd::AnalysisVaaInfoIntra (p, s);
  if (n != AnalysisVaaInfoIntra_c (p, s))
    Mismatch ("AnalysisVaaInfoIntra");
  return n;
}

#define FC_COST(simd, c) (CheckedCost<FramechainSimd::simd, c>)
#define FC_FOUR(simd, c) (CheckedFour<FramechainSimd::simd, c>)
#define FC_DCT(simd, c, n) (CheckedDct<FramechainSimd::simd, c, n>)
#define FC_QUANT(simd, c, n) (CheckedQuant<FramechainSimd::simd, c, n>)
#define FC_QUANT_DC (CheckedQuantDc)
#define FC_QUANT_MAX (CheckedQuantMax)
#define FC_IDCT(simd, c, n) (CheckedIDct<FramechainSimd::simd, c, n>)
#define FC_COPY(simd, c, w, h) (CheckedCopy<FramechainSimd::simd, c, w, h>)
#define FC_PRED(simd, c, n) (CheckedPred<FramechainSimd::simd, c, n>)
#define FC_DEQUANT(simd, c, n) (CheckedDequant<FramechainSimd::simd, c, n>)
#define FC_NZC (CheckedNzc)
#define FC_SCAN(simd, c) (CheckedScan<FramechainSimd::simd, c>)
#define FC_SINGLE_CTR (CheckedSingleCtr)
#define FC_VAA_INTRA (CheckedVaaIntra)

#else

#define FC_COST(simd, c) (FramechainSimd::simd)
#define FC_FOUR(simd, c) (FramechainSimd::simd)
#define FC_DCT(simd, c, n) (FramechainSimd::simd)
#define FC_QUANT(simd, c, n) (FramechainSimd::simd)
#define FC_QUANT_DC (FramechainSimd::Quant4x4Dc)
#define FC_QUANT_MAX (FramechainSimd::QuantFour4x4Max)
#define FC_IDCT(simd, c, n) (FramechainSimd::simd)
#define FC_COPY(simd, c, w, h) (FramechainSimd::simd)
#define FC_PRED(simd, c, n) (FramechainSimd::simd)
#define FC_DEQUANT(simd, c, n) (FramechainSimd::simd)
#define FC_NZC (FramechainSimd::GetNoneZeroCount)
#define FC_SCAN(simd, c) (FramechainSimd::simd)
#define FC_SINGLE_CTR (FramechainSimd::CalculateSingleCtr4x4)
#define FC_VAA_INTRA (FramechainSimd::AnalysisVaaInfoIntra)

#endif

} // namespace

int32_t FramechainSimdInitFunctionPointers (sWelsEncCtx* pEncCtx, SWelsSvcCodingParam* pParam, uint32_t uiCpuFlag) {
  int32_t iReturn = InitFunctionPointers (pEncCtx, pParam, uiCpuFlag);
  SWelsFuncPtrList* f = pEncCtx->pFuncList;
  SSampleDealingFunc& s = f->sSampleDealingFuncs;

  s.pfSampleSad[BLOCK_16x16] = FC_COST (Sad16x16, WelsSampleSad16x16_c);
  s.pfSampleSad[BLOCK_16x8] = FC_COST (Sad16x8, WelsSampleSad16x8_c);
  s.pfSampleSad[BLOCK_8x16] = FC_COST (Sad8x16, WelsSampleSad8x16_c);
  s.pfSampleSad[BLOCK_8x8] = FC_COST (Sad8x8, WelsSampleSad8x8_c);
  s.pfSampleSad[BLOCK_8x4] = FC_COST (Sad8x4, WelsSampleSad8x4_c);
  s.pfSampleSad[BLOCK_4x8] = FC_COST (Sad4x8, WelsSampleSad4x8_c);
  s.pfSampleSad[BLOCK_4x4] = FC_COST (Sad4x4, WelsSampleSad4x4_c);

  s.pfSample4Sad[BLOCK_16x16] = FC_FOUR (SadFour16x16, WelsSampleSadFour16x16_c);
  s.pfSample4Sad[BLOCK_16x8] = FC_FOUR (SadFour16x8, WelsSampleSadFour16x8_c);
  s.pfSample4Sad[BLOCK_8x16] = FC_FOUR (SadFour8x16, WelsSampleSadFour8x16_c);
  s.pfSample4Sad[BLOCK_8x8] = FC_FOUR (SadFour8x8, WelsSampleSadFour8x8_c);
  s.pfSample4Sad[BLOCK_8x4] = FC_FOUR (SadFour8x4, WelsSampleSadFour8x4_c);
  s.pfSample4Sad[BLOCK_4x8] = FC_FOUR (SadFour4x8, WelsSampleSadFour4x8_c);
  s.pfSample4Sad[BLOCK_4x4] = FC_FOUR (SadFour4x4, WelsSampleSadFour4x4_c);

  s.pfSampleSatd[BLOCK_16x16] = FC_COST (Satd16x16, WelsSampleSatd16x16_c);
  s.pfSampleSatd[BLOCK_16x8] = FC_COST (Satd16x8, WelsSampleSatd16x8_c);
  s.pfSampleSatd[BLOCK_8x16] = FC_COST (Satd8x16, WelsSampleSatd8x16_c);
  s.pfSampleSatd[BLOCK_8x8] = FC_COST (Satd8x8, WelsSampleSatd8x8_c);
  s.pfSampleSatd[BLOCK_8x4] = FC_COST (Satd8x4, WelsSampleSatd8x4_c);
  s.pfSampleSatd[BLOCK_4x8] = FC_COST (Satd4x8, WelsSampleSatd4x8_c);
  s.pfSampleSatd[BLOCK_4x4] = FC_COST (Satd4x4, WelsSampleSatd4x4_c);

  f->pfDctT4 = FC_DCT (DctT4, WelsDctT4_c, 16);
  f->pfDctFourT4 = FC_DCT (DctFourT4, WelsDctFourT4_c, 64);
  f->pfQuantization4x4 = FC_QUANT (Quant4x4, WelsQuant4x4_c, 16);
  f->pfQuantizationFour4x4 = FC_QUANT (QuantFour4x4, WelsQuantFour4x4_c, 64);
  f->pfQuantizationDc4x4 = FC_QUANT_DC;
  f->pfQuantizationFour4x4Max = FC_QUANT_MAX;

  f->pfGetNoneZeroCount = FC_NZC;
  f->pfScan4x4 = FC_SCAN (Scan4x4DcAc, WelsScan4x4DcAc_c);
  f->pfScan4x4Ac = FC_SCAN (Scan4x4Ac, WelsScan4x4Ac_c);
  f->pfCalculateSingleCtr4x4 = FC_SINGLE_CTR;
  f->pfGetVarianceFromIntraVaa = FC_VAA_INTRA;

  f->pfIDctFourT4 = FC_IDCT (IDctFourT4Rec, WelsIDctFourT4Rec_c, 8);
  f->pfIDctT4 = FC_IDCT (IDctT4Rec, WelsIDctT4Rec_c, 4);
  f->pfDequantization4x4 = FC_DEQUANT (Dequant4x4, WelsDequant4x4_c, 16);
  f->pfDequantizationFour4x4 = FC_DEQUANT (DequantFour4x4, WelsDequantFour4x4_c, 64);

  f->pfCopy16x16Aligned = FC_COPY (Copy16x16, WelsCopy16x16_c, 16, 16);
  f->pfCopy16x16NotAligned = FC_COPY (Copy16x16, WelsCopy16x16_c, 16, 16);
  f->pfCopy16x8NotAligned = FC_COPY (Copy16x8, WelsCopy16x8_c, 16, 8);
  f->pfCopy8x16Aligned = FC_COPY (Copy8x16, WelsCopy8x16_c, 8, 16);
  f->pfCopy8x8Aligned = FC_COPY (Copy8x8, WelsCopy8x8_c, 8, 8);

  f->pfGetLumaI16x16Pred[I16_PRED_P] = FC_PRED (I16x16LumaPredPlane, WelsI16x16LumaPredPlane_c, 256);
  f->pfGetLumaI16x16Pred[I16_PRED_DC] = FC_PRED (I16x16LumaPredDc, WelsI16x16LumaPredDc_c, 256);
  f->pfGetChromaPred[C_PRED_P] = FC_PRED (IChromaPredPlane, WelsIChromaPredPlane_c, 64);
  return iReturn;
}

} // namespace WelsEnc
