//! Declarations of framechain's C shim (`shim/openh264_c.h`). These are our
//! own functions and structs, not OpenH264's: keep them in sync with that
//! header.

use std::ffi::c_void;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct Picture {
    pub plane: [*const u8; 3],
    pub stride: [i32; 2],
    pub width: i32,
    pub height: i32,
    pub token: u64,
}

impl Default for Picture {
    fn default() -> Self {
        Self {
            plane: [std::ptr::null(); 3],
            stride: [0; 2],
            width: 0,
            height: 0,
            token: 0,
        }
    }
}

#[repr(C)]
pub struct EncConfig {
    pub width: i32,
    pub height: i32,
    pub fps: f32,
    pub bitrate: i32,
    pub max_bitrate: i32,
    pub rc_mode: i32,
    pub qp: i32,
    pub min_qp: i32,
    pub max_qp: i32,
    pub intra_period: u32,
    pub complexity: i32,
    pub profile: i32,
    pub frame_skip: i32,
    pub log_level: i32,
}

unsafe extern "C" {
    pub fn fc_dec_new(conceal_errors: i32, log_level: i32) -> *mut c_void;
    pub fn fc_dec_free(dec: *mut c_void);
    pub fn fc_dec_decode(
        dec: *mut c_void,
        data: *const u8,
        len: i32,
        token: u64,
        out: *mut Picture,
        ready: *mut i32,
    ) -> i32;
    pub fn fc_dec_end_of_stream(dec: *mut c_void) -> i32;
    pub fn fc_dec_flush(dec: *mut c_void, out: *mut Picture) -> i32;

    pub fn fc_enc_new(config: *const EncConfig, error: *mut i32) -> *mut c_void;
    pub fn fc_enc_free(enc: *mut c_void);
    pub fn fc_enc_force_idr(enc: *mut c_void) -> i32;
    pub fn fc_enc_set_bitrate(enc: *mut c_void, bitrate: i32) -> i32;
    pub fn fc_enc_encode(
        enc: *mut c_void,
        y: *const u8,
        u: *const u8,
        v: *const u8,
        y_stride: i32,
        uv_stride: i32,
        timestamp_ms: i64,
        frame_type: *mut i32,
        size: *mut i32,
    ) -> i32;
    pub fn fc_enc_take(enc: *mut c_void, dst: *mut u8, cap: i32) -> i32;
}

// OpenH264 constants used from Rust (codec_app_def.h / codec_def.h).

/// DECODING_STATE bits (dsFramePending, 0x01, is not an error and unused).
pub mod ds {
    pub const REF_LOST: i32 = 0x02;
    pub const BITSTREAM_ERROR: i32 = 0x04;
    pub const DEP_LAYER_LOST: i32 = 0x08;
    pub const NO_PARAM_SETS: i32 = 0x10;
    pub const DATA_ERROR_CONCEALED: i32 = 0x20;
    pub const REF_LIST_NULL_PTRS: i32 = 0x40;
    pub const INVALID_ARGUMENT: i32 = 0x1000;
    pub const INIT_EXPECTED: i32 = 0x2000;
    pub const OUT_OF_MEMORY: i32 = 0x4000;
    pub const DST_BUF_NEED_EXPAN: i32 = 0x8000;
}

/// EVideoFrameType (videoFrameTypeInvalid is 0).
pub mod frame_type {
    pub const IDR: i32 = 1;
    pub const I: i32 = 2;
    pub const P: i32 = 3;
    pub const SKIP: i32 = 4;
}
