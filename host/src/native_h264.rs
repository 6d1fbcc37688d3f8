//! The host side of the `native-h264` import: an H.264 encoder (OpenH264,
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

use wasmtime::Result;
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::WasiView;

use crate::bindings::native_h264::{self as wit, EncoderConfig};
use crate::bindings::types::Packet;
use crate::frame::Frame;
use crate::stage_state::StageState;

/// Native encoders one stage instance may hold at once. One is what a
/// stage needs (a new picture size replaces the encoder).
pub const MAX_ENCODERS_PER_INSTANCE: u32 = 1;

/// Largest picture the native encoder takes, in 16x16 macroblocks: H.264
/// level 5.2's maximum frame size (36864, e.g. 4096x2304 or 2304x4096).
pub const MAX_MACROBLOCKS: u32 = 36_864;

/// The per-instance state of the import, kept in [`StageState`].
#[derive(Debug)]
pub(crate) struct NativeH264State {
    /// False when the engine's operator switched the native encoder off.
    pub(crate) allowed: bool,
    /// Encoders this instance holds now.
    live: u32,
}

impl NativeH264State {
    pub(crate) fn new(allowed: bool) -> NativeH264State {
        NativeH264State { allowed, live: 0 }
    }
}

/// What a stage's `encoder` handle refers to in its resource table.
pub struct NativeEncoder {
    #[cfg(feature = "native-h264")]
    codec: Option<framechain_openh264::Encoder>,
    /// What the encoder is charged to the stage's host budget.
    charged: usize,
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
fn check_config(config: &EncoderConfig) -> Result<(), String> {
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
fn check_bitrate(bitrate: u32) -> Result<(), String> {
    if !(1000..=i32::MAX as u32).contains(&bitrate) {
        return Err(format!(
            "a target bitrate must be 1000 to {} bits per second, got {bitrate}",
            i32::MAX
        ));
    }
    Ok(())
}

#[cfg(feature = "native-h264")]
fn make_encoder(config: &EncoderConfig) -> Result<NativeEncoder, String> {
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
fn make_encoder(config: &EncoderConfig) -> Result<NativeEncoder, String> {
    check_config(config)?;
    Err("this host was built without the native H.264 encoder (cargo feature `native-h264`)".into())
}

/// Encodes `frame` with `codec`, reading its planes where they are.
#[cfg(feature = "native-h264")]
fn encode_frame(
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

/// The stage instance's resource table, where its frames and encoders live.
fn table(state: &mut StageState) -> &mut ResourceTable {
    WasiView::ctx(state).table
}

impl wit::Host for StageState {}

impl wit::HostEncoder for StageState {
    fn create(&mut self, config: EncoderConfig) -> Result<Result<Resource<NativeEncoder>, String>> {
        if !self.native_h264.allowed {
            return Ok(Err(
                "the native H.264 encoder is switched off on this host".into()
            ));
        }
        if self.native_h264.live >= MAX_ENCODERS_PER_INSTANCE {
            return Ok(Err(format!(
                "a stage instance may hold {MAX_ENCODERS_PER_INSTANCE} native encoder at a time; \
                 drop the old one first"
            )));
        }
        if let Err(message) = check_config(&config) {
            return Ok(Err(message));
        }
        // The encoder's memory is the host's: it counts against the
        // stage's budget like its frames, before it is made.
        let bytes = encoder_bytes(&config);
        if !self.try_charge(bytes) {
            return Ok(Err(format!(
                "a native encoder for {}x{} is charged {} MiB, more than is left of the stage's memory limit",
                config.width,
                config.height,
                bytes >> 20
            )));
        }
        let mut encoder = match make_encoder(&config) {
            Ok(encoder) => encoder,
            Err(message) => {
                self.release(bytes);
                return Ok(Err(message));
            }
        };
        encoder.charged = bytes;
        let handle = table(self).push(encoder)?;
        self.native_h264.live += 1;
        Ok(Ok(handle))
    }

    #[cfg(feature = "native-h264")]
    fn encode(
        &mut self,
        encoder: Resource<NativeEncoder>,
        frame: Resource<Frame>,
        force_keyframe: bool,
    ) -> Result<Result<Option<Packet>, String>> {
        let table = table(self);
        // The encoder and the frame live in the same table: take the codec
        // out of its entry (a pointer move) while the frame is borrowed.
        let Some(mut codec) = table.get_mut(&encoder)?.codec.take() else {
            wasmtime::bail!("native encoder used while it is encoding");
        };
        let result = table
            .get(&frame)
            .map(|frame| encode_frame(&mut codec, frame, force_keyframe));
        table.get_mut(&encoder)?.codec = Some(codec);
        // A handle the stage does not own traps the stage.
        Ok(result?)
    }

    #[cfg(not(feature = "native-h264"))]
    fn encode(
        &mut self,
        _encoder: Resource<NativeEncoder>,
        _frame: Resource<Frame>,
        _force_keyframe: bool,
    ) -> Result<Result<Option<Packet>, String>> {
        // No encoder can have been made.
        wasmtime::bail!("the native H.264 encoder is not built into this host")
    }

    #[cfg(feature = "native-h264")]
    fn set_bitrate(
        &mut self,
        encoder: Resource<NativeEncoder>,
        bitrate: u32,
    ) -> Result<Result<(), String>> {
        if let Err(message) = check_bitrate(bitrate) {
            return Ok(Err(message));
        }
        let Some(codec) = table(self).get_mut(&encoder)?.codec.as_mut() else {
            wasmtime::bail!("native encoder used while it is encoding");
        };
        codec_log::install();
        // OpenH264 changes the target in place (SetOption BITRATE): no new
        // sequence, no IDR picture; rate control follows from the next one.
        Ok(codec
            .set_bitrate(bitrate)
            .map_err(|error| error.to_string()))
    }

    #[cfg(not(feature = "native-h264"))]
    fn set_bitrate(
        &mut self,
        _encoder: Resource<NativeEncoder>,
        _bitrate: u32,
    ) -> Result<Result<(), String>> {
        // No encoder can have been made.
        wasmtime::bail!("the native H.264 encoder is not built into this host")
    }

    fn drop(&mut self, encoder: Resource<NativeEncoder>) -> Result<()> {
        let encoder = table(self).delete(encoder)?;
        self.release(encoder.charged);
        self.native_h264.live = self.native_h264.live.saturating_sub(1);
        Ok(())
    }
}

/// OpenH264's log lines from native encoders, into the host's log.
#[cfg(feature = "native-h264")]
mod codec_log {
    use std::cell::Cell;

    use framechain_openh264::log::{Level, set_sink};

    /// Routes this thread's OpenH264 log lines to the host's log (the sink
    /// is per thread; calls are cheap).
    pub(super) fn install() {
        set_sink(Some(forward));
    }

    fn forward(level: Level, message: &str) {
        thread_local! {
            static LOGGED: Cell<u64> = const { Cell::new(0) };
        }
        // The same throttle as the in-wasm encoder: a misbehaving encoder
        // must not flood the node's log.
        let n = LOGGED.with(|c| c.replace(c.get() + 1));
        if n >= 100 && !n.is_multiple_of(1000) {
            return;
        }
        let level = match level {
            Level::Error | Level::Warning => log::Level::Warn,
            Level::Info => log::Level::Info,
            Level::Debug => log::Level::Debug,
        };
        log::log!(target: "framechain::native_h264", level, "openh264: {message}");
    }
}
