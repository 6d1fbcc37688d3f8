//! The native H.264 encoder behind the `native-h264` import (whose host
//! functions are in `crate::imports`): an H.264 encoder (OpenH264,
//! built natively with its x86 assembly where available) that a stage such
//! as `encode-h264 accel=native` drives instead of the OpenH264 compiled
//! into its own wasm.
//!
//! Why this keeps the rule "untrusted bytes are parsed only in the
//! sandbox": the encoder only ever reads frames, pixels our own pipeline
//! produced and holds in host memory, never bitstream bytes. The stage
//! passes settings (checked here) and frame handles (resolved in its own
//! resource table, so it can name only its own frames).
//!
//! What it costs in isolation, and how it is bounded:
//! - The encoder's memory is the host's, outside the stage's linear-memory
//!   limit and the frame budget. Each stage instance may hold
//!   [`MAX_ENCODERS_PER_INSTANCE`] encoder at a time, of at most
//!   [`MAX_MACROBLOCKS`] macroblocks (H.264 level 5.2's largest picture,
//!   4096x2304). Measured peak: about 21 MiB at 1080p, 90 MiB at
//!   4096x2304, per instance. Encoders live in the instance's resource
//!   table and are freed with the session at the latest.
//! - Native work runs inside the stage's call, on the calling thread. The
//!   per-call time limit is checked when control returns to wasm, so one
//!   `encode` always finishes (a few milliseconds at 1080p) before an
//!   overdue call is stopped.
//! - A bug in OpenH264's encoder would be a bug in the host process, not in
//!   a sandbox: that is the trade-off for about 5.6x the speed, and why the
//!   encoder is off unless a pipeline asks for it (`accel=native`) and an
//!   operator can switch it off ([`crate::EngineConfig::native_h264`]).

use crate::bindings::native_h264::{self as wit, EncoderConfig};
use crate::bindings::types::Packet;
use crate::frame::Frame;

/// Native encoders one stage instance may hold at once. One is what a
/// stage needs (a new picture size replaces the encoder).
pub const MAX_ENCODERS_PER_INSTANCE: u32 = 1;

/// Largest picture the native encoder takes, in 16x16 macroblocks: H.264
/// level 5.2's maximum frame size (36864, e.g. 4096x2304 or 2304x4096).
pub const MAX_MACROBLOCKS: u32 = 36_864;

/// The per-instance state of the import, kept in the instance's store.
#[derive(Debug)]
pub(crate) struct NativeH264State {
    /// False when the engine's operator switched the native encoder off.
    pub(crate) allowed: bool,
    /// Encoders this instance holds now.
    pub(crate) live: u32,
}

impl NativeH264State {
    pub(crate) fn new(allowed: bool) -> NativeH264State {
        NativeH264State { allowed, live: 0 }
    }
}

/// What a stage's `encoder` handle refers to in its resource table.
pub struct NativeEncoder {
    /// The codec; taken out while it encodes (the frame it reads lives in
    /// the same resource table).
    #[cfg(feature = "native-h264")]
    pub(crate) codec: Option<framechain_openh264::Encoder>,
    /// What the encoder is charged to the stage's host budget.
    pub(crate) charged: usize,
}

/// Host memory a native encoder of `config`'s size is charged to its stage:
/// a fixed part plus a share per macroblock, fitted to OpenH264's measured
/// peak (about 21 MiB at 1080p, 90 MiB at 4096x2304) with room to spare.
pub(crate) fn encoder_bytes(config: &EncoderConfig) -> usize {
    const FIXED: usize = 4 << 20;
    const PER_MACROBLOCK: usize = 2_700;
    let macroblocks = config.width.div_ceil(16) as usize * config.height.div_ceil(16) as usize;
    FIXED + PER_MACROBLOCK * macroblocks
}

/// Why a settings record is refused, before OpenH264 sees it.
pub(crate) fn check_config(config: &EncoderConfig) -> Result<(), String> {
    let (w, h) = (config.width, config.height);
    let macroblocks = u64::from(w.div_ceil(16)) * u64::from(h.div_ceil(16));
    if w > crate::MAX_DIMENSION || h > crate::MAX_DIMENSION || macroblocks > MAX_MACROBLOCKS.into()
    {
        return Err(format!(
            "the native encoder takes pictures of at most {MAX_MACROBLOCKS} macroblocks \
             (e.g. 4096x2304), got {w}x{h}"
        ));
    }
    if !(config.fps.is_finite() && config.fps > 0.0 && config.fps <= 1000.0) {
        return Err(format!(
            "fps must be above 0 and at most 1000, got {}",
            config.fps
        ));
    }
    if config.qp > 51 {
        return Err(format!("qp must be 0 to 51, got {}", config.qp));
    }
    Ok(())
}

/// Why a new target bitrate is refused, before OpenH264 sees it: the
/// contract asks for at least 1000 bits per second, and OpenH264 counts in
/// an `int`.
pub(crate) fn check_bitrate(bitrate: u32) -> Result<(), String> {
    if !(1000..=i32::MAX as u32).contains(&bitrate) {
        return Err(format!(
            "a target bitrate must be 1000 to {} bits per second, got {bitrate}",
            i32::MAX
        ));
    }
    Ok(())
}

#[cfg(feature = "native-h264")]
pub(crate) fn make_encoder(config: &EncoderConfig) -> Result<NativeEncoder, String> {
    use framechain_openh264::{Complexity, Profile, RateControl};
    check_config(config)?;
    let settings = framechain_openh264::EncoderConfig {
        width: config.width,
        height: config.height,
        fps: config.fps,
        bitrate: config.bitrate,
        max_bitrate: config.max_bitrate,
        rate_control: match config.rate_control {
            wit::RateControl::Bitrate => RateControl::Bitrate,
            wit::RateControl::Quality => RateControl::Quality,
            wit::RateControl::Buffer => RateControl::Buffer,
            wit::RateControl::Off => RateControl::Off,
        },
        qp: config.qp,
        min_qp: 0,
        max_qp: 51,
        intra_period: config.intra_period,
        complexity: match config.complexity {
            wit::Complexity::Low => Complexity::Low,
            wit::Complexity::Medium => Complexity::Medium,
            wit::Complexity::High => Complexity::High,
        },
        profile: match config.profile {
            wit::Profile::Baseline => Profile::Baseline,
            wit::Profile::Main => Profile::Main,
            wit::Profile::High => Profile::High,
        },
        frame_skip: config.frame_skip,
        log_level: framechain_openh264::log::Level::Warning,
    };
    codec_log::install();
    let codec = framechain_openh264::Encoder::new(&settings).map_err(|error| error.to_string())?;
    Ok(NativeEncoder {
        codec: Some(codec),
        charged: 0,
    })
}

#[cfg(not(feature = "native-h264"))]
pub(crate) fn make_encoder(config: &EncoderConfig) -> Result<NativeEncoder, String> {
    check_config(config)?;
    Err("this host was built without the native H.264 encoder (cargo feature `native-h264`)".into())
}

/// Encodes `frame` with `codec`, reading its planes where they are.
#[cfg(feature = "native-h264")]
pub(crate) fn encode_frame(
    codec: &mut framechain_openh264::Encoder,
    frame: &Frame,
    force_keyframe: bool,
) -> Result<Option<Packet>, String> {
    use crate::bindings::types::{Codec, Plane};
    use framechain_openh264::FrameKind;
    let (w, h) = codec.size();
    if (frame.width(), frame.height()) != (w, h) {
        return Err(format!(
            "frame is {}x{}, the encoder was made for {w}x{h}",
            frame.width(),
            frame.height()
        ));
    }
    codec_log::install();
    if force_keyframe {
        codec.force_idr();
    }
    // OpenH264's rate control counts milliseconds; pts are 90 kHz ticks.
    // The same conversion as the in-wasm encoder, so both behave alike.
    let timestamp_ms = frame.pts.max(0) / 90;
    let planes = [
        frame.plane(Plane::Y),
        frame.plane(Plane::U),
        frame.plane(Plane::V),
    ];
    let out = codec
        .encode_planes(planes, timestamp_ms)
        .map_err(|error| error.to_string())?;
    Ok(match out.kind {
        FrameKind::Skipped => None,
        kind => Some(Packet {
            codec: Codec::H264,
            data: out.data,
            pts: frame.pts,
            // No B-frames: decode order is presentation order.
            dts: frame.pts,
            keyframe: kind == FrameKind::Idr,
        }),
    })
}

/// OpenH264's log lines from native encoders. They are collected during
/// the native call and then go through the calling stage's log allowance
/// (`StageState::log_line`), like the stage's own lines: one throttle for
/// both, and each line tagged with its stage and session.
pub(crate) mod codec_log {
    use std::cell::RefCell;

    use crate::bindings::LogLevel;

    /// Lines kept per native call; OpenH264 logs a few at most.
    const MAX_LINES: usize = 16;

    thread_local! {
        static LINES: RefCell<Vec<(LogLevel, String)>> = const { RefCell::new(Vec::new()) };
    }

    /// Routes this thread's OpenH264 log lines here (the sink is per
    /// thread; calls are cheap).
    pub(crate) fn install() {
        #[cfg(feature = "native-h264")]
        framechain_openh264::log::set_sink(Some(collect));
    }

    #[cfg(feature = "native-h264")]
    fn collect(level: framechain_openh264::log::Level, message: &str) {
        use framechain_openh264::log::Level;
        let level = match level {
            Level::Error | Level::Warning => LogLevel::Warn,
            Level::Info => LogLevel::Info,
            Level::Debug => LogLevel::Debug,
        };
        LINES.with(|lines| {
            let mut lines = lines.borrow_mut();
            if lines.len() < MAX_LINES {
                lines.push((level, format!("openh264: {message}")));
            }
        });
    }

    /// The lines collected on this thread since the last call.
    pub(crate) fn take() -> Vec<(LogLevel, String)> {
        LINES.with(|lines| std::mem::take(&mut *lines.borrow_mut()))
    }
}
