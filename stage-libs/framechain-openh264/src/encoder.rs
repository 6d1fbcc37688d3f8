//! Safe wrapper around OpenH264's encoder.

use std::ffi::c_void;
use std::ptr::NonNull;

use crate::Error;
use crate::decoder::I420;
use crate::ffi::{self, frame_type};
use crate::log::Level;

/// OpenH264's rate-control modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateControl {
    /// Hold the target bitrate (RC_BITRATE_MODE).
    Bitrate,
    /// Favour quality, use the bitrate as a guide (RC_QUALITY_MODE).
    Quality,
    /// Adjust quality to the encoder's buffer only (RC_BUFFERBASED_MODE).
    Buffer,
    /// No rate control: every picture at the fixed `qp` (RC_OFF_MODE).
    Off,
}

impl RateControl {
    fn to_raw(self) -> i32 {
        match self {
            RateControl::Quality => 0,
            RateControl::Bitrate => 1,
            RateControl::Buffer => 2,
            RateControl::Off => -1,
        }
    }
}

/// H.264 profile, which also picks the entropy coder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Constrained Baseline, CAVLC: every decoder plays it.
    Baseline,
    /// Main, CABAC: ~10% fewer bits for the same picture.
    Main,
    /// High (OpenH264 uses no High-only tools beyond CABAC).
    High,
}

impl Profile {
    fn to_raw(self) -> i32 {
        match self {
            Profile::Baseline => 66,
            Profile::Main => 77,
            Profile::High => 100,
        }
    }
}

/// Encoder effort: OpenH264's ECOMPLEXITY_MODE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Complexity {
    /// Fastest, least efficient.
    Low,
    /// OpenH264's default.
    Medium,
    /// Slowest, most efficient.
    High,
}

/// How an [`Encoder`] is set up.
#[derive(Debug, Clone)]
pub struct EncoderConfig {
    /// Picture width in pixels (at least [`MIN_SIZE`]).
    pub width: u32,
    /// Picture height in pixels (at least [`MIN_SIZE`]).
    pub height: u32,
    /// Pictures per second, for rate control.
    pub fps: f32,
    /// Target bits per second.
    pub bitrate: u32,
    /// Cap in bits per second; 0 for none.
    pub max_bitrate: u32,
    /// How the bitrate is held.
    pub rate_control: RateControl,
    /// Quantiser for [`RateControl::Off`] (0..=51).
    pub qp: u8,
    /// Lowest quantiser rate control may use (0..=51).
    pub min_qp: u8,
    /// Highest quantiser rate control may use (0..=51).
    pub max_qp: u8,
    /// Pictures between IDR pictures; 0 means only the first.
    pub intra_period: u32,
    /// Encoder effort.
    pub complexity: Complexity,
    /// The H.264 profile of the output.
    pub profile: Profile,
    /// Let rate control skip pictures to hold the bitrate.
    pub frame_skip: bool,
    /// Least severe OpenH264 log line passed on.
    pub log_level: Level,
}

/// Smallest picture OpenH264 encodes.
pub const MIN_SIZE: u32 = 16;

/// What one picture became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// An IDR picture (with SPS and PPS in front): a keyframe.
    Idr,
    /// A non-IDR intra picture.
    Intra,
    /// A predicted picture.
    Predicted,
    /// Rate control skipped the picture: no bytes.
    Skipped,
}

/// One picture's output.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// Whether it is an IDR, another picture, or skipped.
    pub kind: FrameKind,
    /// Annex-B bytes (start codes included); empty when skipped.
    pub data: Vec<u8>,
}

/// An OpenH264 encoder: packed I420 pictures in, Annex-B access units out.
pub struct Encoder {
    raw: NonNull<c_void>,
    width: u32,
    height: u32,
}

impl Encoder {
    /// An encoder set up as `config` says; refuses sizes OpenH264 cannot
    /// take (odd, below [`MIN_SIZE`] or above 16384).
    pub fn new(config: &EncoderConfig) -> Result<Self, Error> {
        let (w, h) = (config.width, config.height);
        if w < MIN_SIZE || h < MIN_SIZE || w % 2 != 0 || h % 2 != 0 || w > 16384 || h > 16384 {
            return Err(Error::Unsupported(format!(
                "OpenH264 encodes even sizes from {MIN_SIZE}x{MIN_SIZE} up; got {w}x{h}"
            )));
        }
        let raw_config = ffi::EncConfig {
            width: w as i32,
            height: h as i32,
            fps: config.fps,
            bitrate: config.bitrate.min(i32::MAX as u32) as i32,
            max_bitrate: config.max_bitrate.min(i32::MAX as u32) as i32,
            rc_mode: config.rate_control.to_raw(),
            qp: config.qp.min(51) as i32,
            min_qp: config.min_qp.min(51) as i32,
            max_qp: config.max_qp.min(51) as i32,
            intra_period: config.intra_period,
            complexity: config.complexity as i32,
            profile: config.profile.to_raw(),
            frame_skip: config.frame_skip as i32,
            log_level: config.log_level.to_wels(),
        };
        let mut error = 0;
        // SAFETY: valid config and out-pointer.
        let raw = unsafe { ffi::fc_enc_new(&raw_config, &mut error) };
        NonNull::new(raw)
            .map(|raw| Self {
                raw,
                width: w,
                height: h,
            })
            .ok_or_else(|| {
                Error::Create(format!(
                    "OpenH264 refused the encoder settings (CM_RETURN {error})"
                ))
            })
    }

    /// Size this encoder was made for.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Makes the next picture an IDR picture.
    pub fn force_idr(&mut self) {
        // SAFETY: valid encoder.
        unsafe { ffi::fc_enc_force_idr(self.raw.as_ptr()) };
    }

    /// Changes the target bitrate (bits per second) for the pictures that
    /// follow, without a new sequence or an IDR picture. OpenH264 needs at
    /// least one bit per frame of its frame rate. A peak bitrate below the
    /// new target is raised to it; with [`RateControl::Off`] the value is
    /// kept but has no effect.
    pub fn set_bitrate(&mut self, bitrate: u32) -> Result<(), Error> {
        let value = i32::try_from(bitrate).unwrap_or(i32::MAX);
        if value <= 0 {
            return Err(Error::Unsupported("a bitrate must be above 0".into()));
        }
        // SAFETY: valid encoder.
        let rv = unsafe { ffi::fc_enc_set_bitrate(self.raw.as_ptr(), value) };
        if rv != 0 {
            return Err(Error::Unsupported(format!(
                "OpenH264 refused the bitrate {bitrate} (CM_RETURN {rv})"
            )));
        }
        Ok(())
    }

    /// Encodes one packed I420 picture of the encoder's size.
    pub fn encode(&mut self, picture: &I420, timestamp_ms: i64) -> Result<Encoded, Error> {
        if (picture.width, picture.height) != (self.width, self.height) {
            return Err(Error::Unsupported(format!(
                "picture is {}x{}, encoder is {}x{}",
                picture.width, picture.height, self.width, self.height
            )));
        }
        self.encode_planes([&picture.y, &picture.u, &picture.v], timestamp_ms)
    }

    /// Encodes one picture of the encoder's size given as its three packed
    /// I420 planes (Y, U, V; no row padding), wherever they live: the host's
    /// native encoder reads a frame's planes in place, copying nothing.
    pub fn encode_planes(
        &mut self,
        [y, u, v]: [&[u8]; 3],
        timestamp_ms: i64,
    ) -> Result<Encoded, Error> {
        let (w, h) = (self.width, self.height);
        let (cw, ch) = I420::chroma_size(w, h);
        let luma = (w * h) as usize;
        let chroma = (cw * ch) as usize;
        if y.len() != luma || u.len() != chroma || v.len() != chroma {
            return Err(Error::Unsupported(
                "plane sizes do not match the picture size".into(),
            ));
        }
        let (mut kind, mut size) = (0, 0);
        // SAFETY: the planes hold exactly the sizes checked above and the
        // encoder only reads them.
        let rv = unsafe {
            ffi::fc_enc_encode(
                self.raw.as_ptr(),
                y.as_ptr(),
                u.as_ptr(),
                v.as_ptr(),
                w as i32,
                cw as i32,
                timestamp_ms,
                &mut kind,
                &mut size,
            )
        };
        if rv != 0 {
            return Err(Error::Encode(format!(
                "EncodeFrame failed (CM_RETURN {rv})"
            )));
        }
        let kind = match kind {
            frame_type::IDR => FrameKind::Idr,
            frame_type::I => FrameKind::Intra,
            frame_type::P => FrameKind::Predicted,
            frame_type::SKIP => FrameKind::Skipped,
            other => {
                return Err(Error::Encode(format!(
                    "EncodeFrame returned frame type {other}"
                )));
            }
        };
        let mut data = vec![0u8; size.max(0) as usize];
        if !data.is_empty() {
            // SAFETY: `data` has room for exactly `size` bytes.
            let n = unsafe { ffi::fc_enc_take(self.raw.as_ptr(), data.as_mut_ptr(), size) };
            if n != size {
                return Err(Error::Encode(format!(
                    "encoder output size changed ({size} vs {n})"
                )));
            }
        }
        Ok(Encoded { kind, data })
    }
}

// SAFETY: an `Encoder` exclusively owns its OpenH264 encoder, which keeps
// no thread-local state and is set up single-threaded (the shim sets
// iMultipleThreadIdc = 1), so it may move to another thread; `&mut self`
// on every call keeps it from being used by two at once. (The log sink is
// per thread: lines of an encoder moved away go to that thread's sink.)
unsafe impl Send for Encoder {}

impl Drop for Encoder {
    fn drop(&mut self) {
        // SAFETY: made by fc_enc_new, freed once.
        unsafe { ffi::fc_enc_free(self.raw.as_ptr()) }
    }
}
