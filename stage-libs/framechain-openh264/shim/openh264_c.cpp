// Plain-C wrappers around OpenH264's ISVCDecoder / ISVCEncoder; see
// openh264_c.h for the contract. Written for framechain.
#include "openh264_c.h"

#include <string.h>

#include "codec_api.h"

// Defined in Rust (src/log.rs): receives OpenH264's log lines.
extern "C" void framechain_openh264_log(int32_t level, const char* message);

namespace {

void forward_log(void* /*context*/, int level, const char* message) {
  framechain_openh264_log(level, message);
}

void route_decoder_log(ISVCDecoder* dec, int32_t level) {
  WelsTraceCallback cb = &forward_log;
  int lvl = level;
  dec->SetOption(DECODER_OPTION_TRACE_CALLBACK, (void*)&cb);
  dec->SetOption(DECODER_OPTION_TRACE_LEVEL, &lvl);
}

void fill_picture(unsigned char* const planes[3], const SBufferInfo& info, fc_picture* out) {
  for (int i = 0; i < 3; ++i) out->plane[i] = planes[i];
  out->stride[0] = info.UsrData.sSystemBuffer.iStride[0];
  out->stride[1] = info.UsrData.sSystemBuffer.iStride[1];
  out->width = info.UsrData.sSystemBuffer.iWidth;
  out->height = info.UsrData.sSystemBuffer.iHeight;
  out->token = info.uiOutYuvTimeStamp;
}

// Holds the encoder and the output of its last EncodeFrame, which points
// into the encoder's own buffers until the next call.
struct Encoder {
  ISVCEncoder* enc;
  SFrameBSInfo last;
  int32_t width;
  int32_t height;
};

}  // namespace

extern "C" {

void* fc_dec_new(int32_t conceal_errors, int32_t log_level) {
  ISVCDecoder* dec = nullptr;
  if (WelsCreateDecoder(&dec) != 0 || dec == nullptr) return nullptr;
  route_decoder_log(dec, log_level);
  SDecodingParam param;
  memset(&param, 0, sizeof(param));
  // Plain AVC: framechain never feeds SVC extension layers.
  param.sVideoProperty.size = sizeof(param.sVideoProperty);
  param.sVideoProperty.eVideoBsType = VIDEO_BITSTREAM_AVC;
  // Concealment copies lost slices from the previous picture (using motion
  // vectors), also across IDRs, and freezes output on a damaged resolution
  // change instead of showing garbage. Without it damaged pictures are not
  // output at all.
  param.eEcActiveIdc = conceal_errors ? ERROR_CON_SLICE_MV_COPY_CROSS_IDR_FREEZE_RES_CHANGE : ERROR_CON_DISABLE;
  if (dec->Initialize(&param) != 0) {
    WelsDestroyDecoder(dec);
    return nullptr;
  }
  // Initialize resets the options; set the log route again.
  route_decoder_log(dec, log_level);
  return dec;
}

void fc_dec_free(void* dec) {
  if (dec == nullptr) return;
  ISVCDecoder* d = static_cast<ISVCDecoder*>(dec);
  d->Uninitialize();
  WelsDestroyDecoder(d);
}

int32_t fc_dec_decode(void* dec, const uint8_t* data, int32_t len, uint64_t token, fc_picture* out, int32_t* ready) {
  ISVCDecoder* d = static_cast<ISVCDecoder*>(dec);
  unsigned char* planes[3] = {nullptr, nullptr, nullptr};
  SBufferInfo info;
  memset(&info, 0, sizeof(info));
  info.uiInBsTimeStamp = token;
  // The no-delay call decodes a picture as soon as its last slice is in,
  // instead of waiting for the first NAL unit of the next access unit; it is
  // also how OpenH264's own conformance tests drive the decoder.
  DECODING_STATE state = d->DecodeFrameNoDelay(data, len, planes, &info);
  *ready = info.iBufferStatus == 1 ? 1 : 0;
  if (*ready) fill_picture(info.pDst, info, out);
  return (int32_t)state;
}

int32_t fc_dec_end_of_stream(void* dec) {
  ISVCDecoder* d = static_cast<ISVCDecoder*>(dec);
  int end = 1;
  d->SetOption(DECODER_OPTION_END_OF_STREAM, &end);
  int remaining = 0;
  d->GetOption(DECODER_OPTION_NUM_OF_FRAMES_REMAINING_IN_BUFFER, &remaining);
  return remaining;
}

int32_t fc_dec_flush(void* dec, fc_picture* out) {
  ISVCDecoder* d = static_cast<ISVCDecoder*>(dec);
  unsigned char* planes[3] = {nullptr, nullptr, nullptr};
  SBufferInfo info;
  memset(&info, 0, sizeof(info));
  d->FlushFrame(planes, &info);
  if (info.iBufferStatus != 1) return 0;
  fill_picture(info.pDst, info, out);
  return 1;
}

void* fc_enc_new(const fc_enc_config* c, int32_t* error) {
  *error = 0;
  ISVCEncoder* enc = nullptr;
  if (WelsCreateSVCEncoder(&enc) != 0 || enc == nullptr) {
    *error = cmMallocMemeError;
    return nullptr;
  }
  WelsTraceCallback cb = &forward_log;
  int level = c->log_level;
  enc->SetOption(ENCODER_OPTION_TRACE_CALLBACK, (void*)&cb);
  enc->SetOption(ENCODER_OPTION_TRACE_LEVEL, &level);

  SEncParamExt p;
  enc->GetDefaultParams(&p);
  // The only camera usage this OpenH264 release accepts.
  p.iUsageType = CAMERA_VIDEO_REAL_TIME;
  p.iPicWidth = c->width;
  p.iPicHeight = c->height;
  p.iTargetBitrate = c->bitrate;
  p.iMaxBitrate = c->max_bitrate > 0 ? c->max_bitrate : UNSPECIFIED_BIT_RATE;
  p.iRCMode = (RC_MODES)c->rc_mode;
  p.fMaxFrameRate = c->fps;
  p.iSpatialLayerNum = 1;
  p.iTemporalLayerNum = 1;
  p.iComplexityMode = (ECOMPLEXITY_MODE)c->complexity;
  p.uiIntraPeriod = c->intra_period;
  // Every IDR carries SPS/PPS with the same ids, so a receiver can join at
  // any keyframe and simple parsers never see id changes.
  p.eSpsPpsIdStrategy = CONSTANT_ID;
  p.bPrefixNalAddingCtrl = false;
  p.bSimulcastAVC = false;
  p.iEntropyCodingModeFlag = c->profile == PRO_BASELINE ? 0 : 1;
  p.bEnableFrameSkip = c->frame_skip != 0;
  p.iMinQp = c->min_qp;
  p.iMaxQp = c->max_qp;
  // The component has one thread.
  p.iMultipleThreadIdc = 1;
  p.bEnableDenoise = false;
  p.bEnableFrameCroppingFlag = true;

  SSpatialLayerConfig& layer = p.sSpatialLayers[0];
  layer.iVideoWidth = c->width;
  layer.iVideoHeight = c->height;
  layer.fFrameRate = c->fps;
  layer.iSpatialBitrate = c->bitrate;
  layer.iMaxSpatialBitrate = p.iMaxBitrate;
  layer.uiProfileIdc = (EProfileIdc)c->profile;
  layer.uiLevelIdc = LEVEL_UNKNOWN;  // let the encoder pick the level
  layer.iDLayerQp = c->qp;
  layer.sSliceArgument.uiSliceMode = SM_SINGLE_SLICE;

  int rv = enc->InitializeExt(&p);
  if (rv != cmResultSuccess) {
    WelsDestroySVCEncoder(enc);
    *error = rv;
    return nullptr;
  }
  int format = videoFormatI420;
  enc->SetOption(ENCODER_OPTION_DATAFORMAT, &format);

  Encoder* e = new Encoder;
  e->enc = enc;
  memset(&e->last, 0, sizeof(e->last));
  e->width = c->width;
  e->height = c->height;
  return e;
}

void fc_enc_free(void* enc) {
  if (enc == nullptr) return;
  Encoder* e = static_cast<Encoder*>(enc);
  e->enc->Uninitialize();
  WelsDestroySVCEncoder(e->enc);
  delete e;
}

int32_t fc_enc_force_idr(void* enc) {
  Encoder* e = static_cast<Encoder*>(enc);
  return e->enc->ForceIntraFrame(true);
}

int32_t fc_enc_set_bitrate(void* enc, int32_t bitrate) {
  Encoder* e = static_cast<Encoder*>(enc);
  if (bitrate <= 0) return cmInitParaError;
  // The peak is kept per layer (from max_bitrate, or the level's limit);
  // the target must not exceed it.
  SBitrateInfo peak;
  memset(&peak, 0, sizeof(peak));
  peak.iLayer = SPATIAL_LAYER_0;
  int rv = e->enc->GetOption(ENCODER_OPTION_MAX_BITRATE, &peak);
  if (rv != cmResultSuccess) return rv;
  if (peak.iBitrate != UNSPECIFIED_BIT_RATE && peak.iBitrate < bitrate) {
    peak.iLayer = SPATIAL_LAYER_0;
    peak.iBitrate = bitrate;
    rv = e->enc->SetOption(ENCODER_OPTION_MAX_BITRATE, &peak);
    if (rv != cmResultSuccess) return rv;
  }
  // SPATIAL_LAYER_ALL sets the total target and the (single) layer's share
  // of it; rate control picks the change up at the next picture.
  SBitrateInfo target;
  memset(&target, 0, sizeof(target));
  target.iLayer = SPATIAL_LAYER_ALL;
  target.iBitrate = bitrate;
  return e->enc->SetOption(ENCODER_OPTION_BITRATE, &target);
}

int32_t fc_enc_encode(void* enc, const uint8_t* y, const uint8_t* u, const uint8_t* v, int32_t y_stride,
                      int32_t uv_stride, int64_t timestamp_ms, int32_t* frame_type, int32_t* size) {
  Encoder* e = static_cast<Encoder*>(enc);
  SSourcePicture pic;
  memset(&pic, 0, sizeof(pic));
  pic.iColorFormat = videoFormatI420;
  pic.iPicWidth = e->width;
  pic.iPicHeight = e->height;
  pic.iStride[0] = y_stride;
  pic.iStride[1] = uv_stride;
  pic.iStride[2] = uv_stride;
  // The encoder only reads the source picture.
  pic.pData[0] = const_cast<uint8_t*>(y);
  pic.pData[1] = const_cast<uint8_t*>(u);
  pic.pData[2] = const_cast<uint8_t*>(v);
  pic.uiTimeStamp = timestamp_ms;
  memset(&e->last, 0, sizeof(e->last));
  int rv = e->enc->EncodeFrame(&pic, &e->last);
  *frame_type = e->last.eFrameType;
  int32_t total = 0;
  if (rv == cmResultSuccess) {
    for (int l = 0; l < e->last.iLayerNum; ++l) {
      const SLayerBSInfo& layer = e->last.sLayerInfo[l];
      for (int n = 0; n < layer.iNalCount; ++n) total += layer.pNalLengthInByte[n];
    }
  }
  *size = total;
  return rv;
}

int32_t fc_enc_take(void* enc, uint8_t* dst, int32_t cap) {
  Encoder* e = static_cast<Encoder*>(enc);
  int32_t written = 0;
  for (int l = 0; l < e->last.iLayerNum; ++l) {
    const SLayerBSInfo& layer = e->last.sLayerInfo[l];
    int32_t len = 0;
    for (int n = 0; n < layer.iNalCount; ++n) len += layer.pNalLengthInByte[n];
    if (written + len > cap) return 0;
    memcpy(dst + written, layer.pBsBuf, len);
    written += len;
  }
  return written;
}

}  // extern "C"
