//! The `decode-h264` stage: the component's entry points on top of the
//! [`Decoder`].

use std::cell::RefCell;

use framechain_openh264::log::{self as codec_log, Level as CodecLevel};
use framechain_stage::control::{self, notify};
use framechain_stage::media::expect_packet;
use framechain_stage::{
    Codec, Control, DroppedFrame, Frame, Media, Notice, Output, PixelFormat, Port, ProcessorHandle,
    Stage, StageDescription, StageError, StageProcessor, log,
};

use crate::config::{DecodeConfig, STAGE_NAME, first_picture_bytes, param_specs};
use crate::decoder::{Batch, Decoder, Picture};

/// The stage type registered with `export_stage!`.
pub struct DecodeStage;

impl Stage for DecodeStage {
    type Processor = DecodeProcessor;

    fn describe() -> StageDescription {
        StageDescription {
            name: STAGE_NAME.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            summary: "Decodes an H.264 Annex-B byte stream (packets cut anywhere) to I420 frames in display order, with OpenH264 inside the sandbox.".to_owned(),
            input: Port::Packets(Codec::H264),
            output: Port::Frames(vec![PixelFormat::I420]),
            params: param_specs(),
        }
    }
}

/// One session's decoder.
pub struct DecodeProcessor {
    decoder: RefCell<Decoder>,
}

impl StageProcessor for DecodeProcessor {
    fn create(params: Vec<(String, String)>) -> Result<ProcessorHandle, StageError> {
        let config = DecodeConfig::from_params(params)?;
        codec_log::set_sink(Some(forward_codec_log));
        if let Some(size) = config.expect_size {
            framechain_stage::memory::prefault(first_picture_bytes(size))
                .map_err(|e| StageError::BadParameter(format!("{STAGE_NAME}: expect-size: {e}")))?;
        }
        let decoder =
            Decoder::new(config).map_err(|e| StageError::Internal(format!("{STAGE_NAME}: {e}")))?;
        Ok(ProcessorHandle::new(DecodeProcessor {
            decoder: RefCell::new(decoder),
        }))
    }

    fn push(&self, input: Media) -> Result<Output, StageError> {
        let packet = expect_packet(STAGE_NAME, Codec::H264, input)?;
        let batch = self
            .decoder
            .borrow_mut()
            .push(&packet.data, packet.pts)
            .map_err(internal)?;
        to_output(batch)
    }

    fn flush(&self) -> Result<Output, StageError> {
        let batch = self.decoder.borrow_mut().flush().map_err(internal)?;
        to_output(batch)
    }

    fn control(&self, event: Control) -> Result<(), StageError> {
        // A decoder cannot make keyframes or change a bitrate; it asks for
        // keyframes itself (the keyframe-needed notice).
        control::ignore(event)
    }
}

fn internal(message: String) -> StageError {
    StageError::Internal(format!("{STAGE_NAME}: {message}"))
}

/// Turns decoded pictures into host frames, and losses into drop reports.
fn to_output(batch: Batch) -> Result<Output, StageError> {
    for note in &batch.notes {
        log::throttled(|| log::warn(&format!("{STAGE_NAME}: {note}")));
    }
    let mut output = Output {
        media: Vec::with_capacity(batch.pictures.len()),
        dropped: Vec::new(),
        notices: Vec::new(),
    };
    for _ in 0..batch.keyframes_needed {
        notify(&mut output, Notice::KeyframeNeeded);
    }
    for picture in batch.pictures {
        match make_frame(&picture) {
            Ok(frame) => output.media.push(Media::Frame(frame)),
            Err(reason) => output.dropped.push(DroppedFrame {
                pts: picture.timing.pts,
                reason,
            }),
        }
    }
    output
        .dropped
        .extend(batch.lost.into_iter().map(|l| DroppedFrame {
            pts: l.pts,
            reason: l.reason,
        }));
    Ok(output)
}

fn make_frame(picture: &Picture) -> Result<Frame, String> {
    let image = &picture.image;
    let frame = Frame::from_planes(image.width, image.height, &image.y, &image.u, &image.v)
        .map_err(|e| {
            format!(
                "cannot make a {}x{} frame: {e:?}",
                image.width, image.height
            )
        })?;
    let t = picture.timing;
    frame.set_timing(t.pts, t.duration, t.keyframe);
    Ok(frame)
}

fn forward_codec_log(level: CodecLevel, message: &str) {
    let line = format!("{STAGE_NAME}: openh264: {message}");
    log::throttled(|| match level {
        // OpenH264 warns about its own settings and about damage the stage
        // already reports as drops; only its errors deserve attention.
        CodecLevel::Error => log::warn(&line),
        CodecLevel::Warning | CodecLevel::Info => log::info(&line),
        CodecLevel::Debug => log::debug(&line),
    });
}
