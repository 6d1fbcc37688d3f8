// The encoder's wasm SIMD128 kernels (simd/encoder/*.cpp), installed in the
// encoder's function table by hooks.cpp. Each has the signature and the exact
// results of the OpenH264 C kernel it replaces (named beside it).

#ifndef FRAMECHAIN_SIMD_ENCODER_KERNELS_H
#define FRAMECHAIN_SIMD_ENCODER_KERNELS_H

#include <stdint.h>

namespace FramechainSimd {

// sad.cpp: WelsSample{Sad,SadFour}WxH_c (common/src/sad_common.cpp).
int32_t Sad16x16 (uint8_t*, int32_t, uint8_t*, int32_t);
int32_t Sad16x8 (uint8_t*, int32_t, uint8_t*, int32_t);
int32_t Sad8x16 (uint8_t*, int32_t, uint8_t*, int32_t);
int32_t Sad8x8 (uint8_t*, int32_t, uint8_t*, int32_t);
int32_t Sad8x4 (uint8_t*, int32_t, uint8_t*, int32_t);
int32_t Sad4x8 (uint8_t*, int32_t, uint8_t*, int32_t);
int32_t Sad4x4 (uint8_t*, int32_t, uint8_t*, int32_t);
void SadFour16x16 (uint8_t*, int32_t, uint8_t*, int32_t, int32_t*);
void SadFour16x8 (uint8_t*, int32_t, uint8_t*, int32_t, int32_t*);
void SadFour8x16 (uint8_t*, int32_t, uint8_t*, int32_t, int32_t*);
void SadFour8x8 (uint8_t*, int32_t, uint8_t*, int32_t, int32_t*);
void SadFour8x4 (uint8_t*, int32_t, uint8_t*, int32_t, int32_t*);
void SadFour4x8 (uint8_t*, int32_t, uint8_t*, int32_t, int32_t*);
void SadFour4x4 (uint8_t*, int32_t, uint8_t*, int32_t, int32_t*);

// satd.cpp: WelsSampleSatdWxH_c (encoder/core/src/sample.cpp).
int32_t Satd16x16 (uint8_t*, int32_t, uint8_t*, int32_t);
int32_t Satd16x8 (uint8_t*, int32_t, uint8_t*, int32_t);
int32_t Satd8x16 (uint8_t*, int32_t, uint8_t*, int32_t);
int32_t Satd8x8 (uint8_t*, int32_t, uint8_t*, int32_t);
int32_t Satd8x4 (uint8_t*, int32_t, uint8_t*, int32_t);
int32_t Satd4x8 (uint8_t*, int32_t, uint8_t*, int32_t);
int32_t Satd4x4 (uint8_t*, int32_t, uint8_t*, int32_t);

// dct_quant.cpp: WelsDctT4_c, WelsDctFourT4_c, WelsQuant*_c
// (encoder/core/src/encode_mb_aux.cpp).
void DctT4 (int16_t* pDct, uint8_t* pPix1, int32_t iStride1, uint8_t* pPix2, int32_t iStride2);
void DctFourT4 (int16_t* pDct, uint8_t* pPix1, int32_t iStride1, uint8_t* pPix2, int32_t iStride2);
void Quant4x4 (int16_t* pDct, const int16_t* pFF, const int16_t* pMF);
void Quant4x4Dc (int16_t* pDct, int16_t iFF, int16_t iMF);
void QuantFour4x4 (int16_t* pDct, const int16_t* pFF, const int16_t* pMF);
void QuantFour4x4Max (int16_t* pDct, const int16_t* pFF, const int16_t* pMF, int16_t* pMax);
int32_t GetNoneZeroCount (int16_t* pLevel); // WelsGetNoneZeroCount_c

// idct_rec.cpp: WelsIDctFourT4Rec_c, WelsIDctT4Rec_c, WelsDequant4x4_c,
// WelsDequantFour4x4_c (encoder/core/src/decode_mb_aux.cpp).
void IDctFourT4Rec (uint8_t* pRec, int32_t iStride, uint8_t* pPred, int32_t iPredStride, int16_t* pDct);
void IDctT4Rec (uint8_t* pRec, int32_t iStride, uint8_t* pPred, int32_t iPredStride, int16_t* pDct);
void Dequant4x4 (int16_t* pRes, const uint16_t* kpMF);
void DequantFour4x4 (int16_t* pRes, const uint16_t* kpMF);

// copy_pred.cpp: WelsCopy{16x16,16x8,8x16,8x8}_c (common/src/copy_mb.cpp),
// WelsI16x16LumaPredPlane_c (encoder/core/src/get_intra_predictor.cpp).
void Copy16x16 (uint8_t* pDst, int32_t iStrideD, uint8_t* pSrc, int32_t iStrideS);
void Copy16x8 (uint8_t* pDst, int32_t iStrideD, uint8_t* pSrc, int32_t iStrideS);
void Copy8x16 (uint8_t* pDst, int32_t iStrideD, uint8_t* pSrc, int32_t iStrideS);
void Copy8x8 (uint8_t* pDst, int32_t iStrideD, uint8_t* pSrc, int32_t iStrideS);
void I16x16LumaPredPlane (uint8_t* pPred, uint8_t* pRef, const int32_t kiStride);
void I16x16LumaPredDc (uint8_t* pPred, uint8_t* pRef, const int32_t kiStride);   // WelsI16x16LumaPredDc_c
void IChromaPredPlane (uint8_t* pPred, uint8_t* pRef, const int32_t kiStride);   // WelsIChromaPredPlane_c

// coeffs.cpp: WelsScan4x4DcAc_c, WelsScan4x4Ac_c, WelsCalculateSingleCtr4x4_c
// (encoder/core/src/encode_mb_aux.cpp).
void Scan4x4DcAc (int16_t* pLevel, int16_t* pDct);
void Scan4x4Ac (int16_t* pLevel, int16_t* pDct);
int32_t CalculateSingleCtr4x4 (int16_t* pDct);

// vaa_intra.cpp: AnalysisVaaInfoIntra_c (encoder/core/src/md.cpp).
int32_t AnalysisVaaInfoIntra (uint8_t* pDataY, const int32_t kiLineSize);

} // namespace FramechainSimd

#endif
