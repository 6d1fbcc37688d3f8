/* Plain-C face of OpenH264's C++ interfaces, for framechain's Rust code.
 *
 * OpenH264's API is two C++ classes used through vtables (ISVCDecoder,
 * ISVCEncoder) and large parameter structs. Mirroring those layouts in Rust
 * would tie us to one release's struct layout; instead this shim, compiled
 * against the real headers, exposes a handful of functions over small
 * structs that framechain defines and src/ffi.rs declares. Keep the two in
 * sync. */
#ifndef FRAMECHAIN_OPENH264_C_H
#define FRAMECHAIN_OPENH264_C_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A decoded picture, cropped to its visible size. The planes point into the
 * decoder's own buffers and stay valid only until the next decoder call. */
typedef struct fc_picture {
  const uint8_t* plane[3];
  int32_t stride[2]; /* luma, chroma */
  int32_t width;
  int32_t height;
  uint64_t token;    /* the token passed with the picture's first slice */
} fc_picture;

/* Returns NULL when OpenH264 cannot make a decoder. */
void* fc_dec_new(int32_t conceal_errors, int32_t log_level);
void fc_dec_free(void* dec);
/* Decodes one NAL unit (with its start code). Returns OpenH264's
 * DECODING_STATE bits; *ready is 1 when `out` holds a picture. */
int32_t fc_dec_decode(void* dec, const uint8_t* data, int32_t len, uint64_t token, fc_picture* out, int32_t* ready);
/* Marks the end of the stream; returns how many pictures the decoder still
 * holds for reordering. Fetch them with fc_dec_flush. */
int32_t fc_dec_end_of_stream(void* dec);
/* Returns 1 when `out` holds one more held-back picture. */
int32_t fc_dec_flush(void* dec, fc_picture* out);

typedef struct fc_enc_config {
  int32_t width;
  int32_t height;
  float fps;
  int32_t bitrate;      /* bits per second */
  int32_t max_bitrate;  /* 0: no cap */
  int32_t rc_mode;      /* 0 quality, 1 bitrate, 2 buffer, -1 off (OpenH264's RC_MODES) */
  int32_t qp;           /* with rc_mode -1 */
  int32_t min_qp;
  int32_t max_qp;
  uint32_t intra_period;/* frames between IDR pictures, 0: only the first */
  int32_t complexity;   /* 0 low, 1 medium, 2 high */
  int32_t profile;      /* 66 baseline (CAVLC), 77 main, 100 high (CABAC) */
  int32_t frame_skip;   /* 1: rate control may skip frames */
  int32_t log_level;
} fc_enc_config;

/* Returns NULL and sets *error to OpenH264's CM_RETURN code on failure. */
void* fc_enc_new(const fc_enc_config* config, int32_t* error);
void fc_enc_free(void* enc);
/* Makes the next encoded picture an IDR picture. */
int32_t fc_enc_force_idr(void* enc);
/* Changes the target bitrate (bits per second, > 0) for the pictures that
 * follow, without a new sequence. Raises the layer's peak bitrate first when
 * it is below the new target (OpenH264 refuses a target above the peak).
 * Returns OpenH264's CM_RETURN code. */
int32_t fc_enc_set_bitrate(void* enc, int32_t bitrate);
/* Encodes one I420 picture of the configured size. Returns OpenH264's
 * CM_RETURN code; on success *frame_type is its EVideoFrameType and *size
 * the byte count that fc_enc_take will copy. */
int32_t fc_enc_encode(void* enc, const uint8_t* y, const uint8_t* u, const uint8_t* v, int32_t y_stride,
                      int32_t uv_stride, int64_t timestamp_ms, int32_t* frame_type, int32_t* size);
/* Copies the Annex-B bytes of the last encoded picture into dst; returns the
 * number of bytes copied (0 if cap is too small). */
int32_t fc_enc_take(void* enc, uint8_t* dst, int32_t cap);

#ifdef __cplusplus
}
#endif

#endif
