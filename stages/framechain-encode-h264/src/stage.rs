//! The `encode-h264` stage: the component's entry points on top of the
//! encoders ([`WasmEncoder`], [`NativeEncoder`]).

use std::cell::{Cell, RefCell};

use framechain_openh264::I420;
use framechain_openh264::log::{self as codec_log, Level as CodecLevel};
use framechain_stage::media::{empty_output, expect_frame};
use framechain_stage::{
    Codec, Control, DroppedFrame, Frame, Media, Output, Packet, PixelFormat, Plane, Port,
    ProcessorHandle, Stage, StageDescription, StageError, StageProcessor, log,
};

use crate::config::{Accel, EncodeConfig, STAGE_NAME, param_specs};
use crate::control::{KeyframeRequest, target_bitrate};
use crate::encoder::{EncodeError, Encoded, WasmEncoder};
use crate::native::NativeEncoder;

/// The stage type registered with `export_stage!`.
pub struct EncodeStage;

impl Stage for EncodeStage {
    type Processor = EncodeProcessor;

    fn describe() -> StageDescription {
        StageDescription {
            name: STAGE_NAME.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            summary: "Encodes I420 frames to H.264 (Annex-B, one packet per frame, no frame delay) with OpenH264 inside the sandbox (or the host's native one); takes request-keyframe and target-bitrate control events.".to_owned(),
            input: Port::Frames(vec![PixelFormat::I420]),
            output: Port::Packets(Codec::H264),
            params: param_specs(),
        }
    }
}

/// One session's encoder.
pub struct EncodeProcessor {
    config: EncodeConfig,
    backend: RefCell<Backend>,
    /// A `request-keyframe` waiting for its IDR picture.
    keyframe: Cell<KeyframeRequest>,
}

/// Where the pictures are encoded (`accel`).
enum Backend {
    /// OpenH264 in this component: the planes are read into its memory.
    Wasm(WasmEncoder),
    /// The host's native encoder: the frame stays in the host.
    Native(NativeEncoder),
}

impl StageProcessor for EncodeProcessor {
    fn create(params: Vec<(String, String)>) -> Result<ProcessorHandle, StageError> {
        let config = EncodeConfig::from_params(params)?;
        codec_log::set_sink(Some(forward_codec_log));
        let backend = match config.accel {
            Accel::None => Backend::Wasm(WasmEncoder::new(config.clone()).map_err(|e| {
                StageError::BadParameter(format!(
                    "{STAGE_NAME}: OpenH264 does not accept these settings: {e}"
                ))
            })?),
            Accel::Native => Backend::Native(NativeEncoder::new(config.clone()).map_err(|e| {
                StageError::BadParameter(format!("{STAGE_NAME}: accel=native: {e}"))
            })?),
        };
        Ok(ProcessorHandle::new(EncodeProcessor {
            config,
            backend: RefCell::new(backend),
            keyframe: Cell::new(KeyframeRequest::default()),
        }))
    }

    fn push(&self, input: Media) -> Result<Output, StageError> {
        let frame = expect_frame(STAGE_NAME, input)?;
        let info = frame.info();
        let PixelFormat::I420 = info.format;
        let mut request = self.keyframe.get();
        let force = request.force(self.config.follow_keyframes && info.keyframe);
        let encoded = match &mut *self.backend.borrow_mut() {
            Backend::Wasm(encoder) => {
                let picture = read_picture(&frame, info.width, info.height)?;
                // OpenH264 rate control counts in milliseconds; pts in 90 kHz
                // ticks. (The host's native encoder converts the same way.)
                let timestamp_ms = info.pts.max(0) / 90;
                encoder.encode(&picture, timestamp_ms, force)
            }
            Backend::Native(encoder) => encoder.encode(&frame, (info.width, info.height), force),
        }
        .map_err(|e| match e {
            EncodeError::Unsupported(m) => {
                StageError::UnsupportedInput(format!("{STAGE_NAME}: {m}"))
            }
            EncodeError::Codec(m) => StageError::Internal(format!("{STAGE_NAME}: {m}")),
        })?;
        request.encoded(&encoded);
        self.keyframe.set(request);
        let mut output = empty_output();
        match encoded {
            Encoded::AccessUnit { data, keyframe } => output.media.push(Media::Packet(Packet {
                codec: Codec::H264,
                data,
                pts: info.pts,
                // No B-frames: decode order is presentation order.
                dts: info.pts,
                keyframe,
            })),
            Encoded::Skipped => output.dropped.push(DroppedFrame {
                pts: info.pts,
                reason: "skipped by rate control".to_owned(),
            }),
        }
        Ok(output)
    }

    fn flush(&self) -> Result<Output, StageError> {
        // OpenH264 never holds a frame back: every push already returned its
        // packet.
        Ok(empty_output())
    }

    fn control(&self, event: Control) -> Result<(), StageError> {
        match event {
            Control::RequestKeyframe => {
                let mut request = self.keyframe.get();
                request.request();
                self.keyframe.set(request);
            }
            Control::TargetBitrate(requested) => {
                let bitrate = target_bitrate(&self.config, requested);
                let result = match &mut *self.backend.borrow_mut() {
                    Backend::Wasm(encoder) => encoder.set_bitrate(bitrate),
                    Backend::Native(encoder) => encoder.set_bitrate(bitrate),
                };
                match result {
                    Ok(()) if bitrate != requested => log::info(&format!(
                        "{STAGE_NAME}: target bitrate {requested} held to {bitrate} by the settings"
                    )),
                    Ok(()) => {}
                    // A rate the encoder refuses is ignored, as the
                    // contract allows; the stream goes on at the old one.
                    Err(EncodeError::Codec(m) | EncodeError::Unsupported(m)) => log::warn(
                        &format!("{STAGE_NAME}: target bitrate {bitrate} ignored: {m}"),
                    ),
                }
            }
        }
        Ok(())
    }
}

fn read_picture(frame: &Frame, width: u32, height: u32) -> Result<I420, StageError> {
    let (cw, ch) = I420::chroma_size(width, height);
    let read = |plane: Plane, size: u32| {
        let data = frame.read_plane(plane);
        if data.len() == size as usize {
            Ok(data)
        } else {
            Err(StageError::Internal(format!(
                "{STAGE_NAME}: host gave {} bytes for the {plane:?} plane of a {width}x{height} frame, expected {size}",
                data.len()
            )))
        }
    };
    Ok(I420 {
        width,
        height,
        y: read(Plane::Y, width * height)?,
        u: read(Plane::U, cw * ch)?,
        v: read(Plane::V, cw * ch)?,
    })
}

fn forward_codec_log(level: CodecLevel, message: &str) {
    // Keep a misbehaving encoder from flooding the host log.
    log::throttled(|| {
        let line = format!("{STAGE_NAME}: openh264: {message}");
        match level {
            // OpenH264 warns about its own settings and about damage the
            // stage already reports as drops; only its errors deserve
            // attention.
            CodecLevel::Error => log::warn(&line),
            CodecLevel::Warning | CodecLevel::Info => log::info(&line),
            CodecLevel::Debug => log::debug(&line),
        }
    });
}
