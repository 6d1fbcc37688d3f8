//! The decoder proper, free of the component interface so it can be driven
//! natively by tests: bytes in, pictures with timing and drop reports out.

use framechain_openh264::{self as openh264, DecoderOptions, I420, log::Level};

use crate::access_unit::AuTracker;
use crate::annexb::{Split, Splitter};
use crate::config::{Alignment, DecodeConfig};
use crate::timing::{Lost, Timeline, Timing};

/// Largest NAL unit accepted: far above any real slice (a 4K intra slice at
/// a high bitrate is a few MiB), low enough that garbage cannot exhaust the
/// component's memory.
pub const MAX_NAL_SIZE: usize = 16 << 20;

/// Access units after which a missing picture is given up on: well beyond
/// the deepest reordering H.264 allows (16 pictures).
const GIVE_UP_WINDOW: u64 = 40;

/// A decoded picture and its timing.
#[derive(Debug)]
pub struct Picture {
    pub image: I420,
    pub timing: Timing,
}

/// What one push or flush produced.
#[derive(Debug, Default)]
pub struct Batch {
    pub pictures: Vec<Picture>,
    pub lost: Vec<Lost>,
    /// Things worth a log line (garbage skipped, concealment).
    pub notes: Vec<String>,
    /// Gaps in the references that began in this batch: each one is a
    /// `keyframe-needed` notice.
    pub keyframes_needed: usize,
}

/// The `decode-h264` decoder: splits the byte stream into NAL units, feeds
/// them to OpenH264 and gives its pictures their time stamps, reporting
/// what was lost and when a keyframe is needed.
pub struct Decoder {
    config: DecodeConfig,
    splitter: Splitter,
    tracker: AuTracker,
    timeline: Timeline,
    /// OpenH264's decoder, made on first use and again after each flush, so
    /// a flushed processor can decode a new stream.
    openh264: Option<openh264::Decoder>,
    /// The decoder has a clean IDR picture to build on (since it was made).
    has_idr: bool,
    /// A gap in the references is open: its keyframe-needed notice was
    /// given, the next one waits for a clean IDR picture.
    in_gap: bool,
}

impl Decoder {
    pub fn new(config: DecodeConfig) -> Result<Decoder, String> {
        let mut decoder = Decoder {
            splitter: Splitter::new(MAX_NAL_SIZE),
            tracker: AuTracker::new(),
            timeline: Timeline::new(config.frame_duration, GIVE_UP_WINDOW),
            openh264: None,
            has_idr: false,
            in_gap: false,
            config,
        };
        // Fail at create time rather than on the first packet.
        decoder.ensure_openh264()?;
        Ok(decoder)
    }

    /// Takes the next piece of the byte stream.
    pub fn push(&mut self, data: &[u8], pts: i64) -> Result<Batch, String> {
        let mut batch = Batch::default();
        if self.config.alignment == Alignment::AccessUnit {
            // The packet is one whole access unit: it starts a new one.
            self.tracker.end_access_unit();
        }
        let split = self.splitter.push(data, pts);
        self.absorb(split, &mut batch)?;
        if self.config.alignment.nal_aligned() {
            let split = self.splitter.finish();
            self.absorb(split, &mut batch)?;
        }
        Ok(batch)
    }

    /// End of stream: decodes what is buffered and returns every picture the
    /// decoder still holds, then gets ready for a new stream.
    pub fn flush(&mut self) -> Result<Batch, String> {
        let mut batch = Batch::default();
        let split = self.splitter.finish();
        self.absorb(split, &mut batch)?;
        if let Some(mut decoder) = self.openh264.take() {
            for _ in 0..decoder.end_of_stream() {
                if let Some(p) = decoder.flush_one() {
                    let timing = self.timeline.picture(p.token());
                    batch.pictures.push(Picture {
                        image: p.to_i420(),
                        timing,
                    });
                }
            }
        }
        batch.lost.extend(self.timeline.finish());
        self.tracker = AuTracker::new();
        // The next stream starts with a new decoder and must start with a
        // keyframe of its own.
        self.has_idr = false;
        self.in_gap = false;
        Ok(batch)
    }

    /// The decoder lacks references: opens a gap, and counts a
    /// keyframe-needed notice unless one is open already.
    fn lacks_references(&mut self, batch: &mut Batch) {
        if !self.in_gap {
            self.in_gap = true;
            batch.keyframes_needed += 1;
        }
    }

    fn ensure_openh264(&mut self) -> Result<(), String> {
        if self.openh264.is_none() {
            let options = DecoderOptions {
                conceal_errors: self.config.conceal_errors,
                log_level: Level::Warning,
            };
            self.openh264 = Some(
                openh264::Decoder::new(&options)
                    .map_err(|e| format!("cannot start OpenH264: {e}"))?,
            );
        }
        Ok(())
    }

    fn absorb(&mut self, split: Split, batch: &mut Batch) -> Result<(), String> {
        if split.discarded > 0 {
            batch.notes.push(format!(
                "skipped {} bytes that are not part of any NAL unit",
                split.discarded
            ));
        }
        for (_, pts) in split.oversized {
            batch.lost.push(Lost {
                pts,
                reason: format!("NAL unit larger than {MAX_NAL_SIZE} bytes"),
            });
            // Whatever the unit held is gone, and later pictures may refer
            // to it.
            self.lacks_references(batch);
        }
        for unit in split.units {
            let place = self.tracker.place(&unit.data);
            if place.starts_au {
                batch
                    .lost
                    .extend(self.timeline.begin(place.au, unit.packet, unit.pts));
            }
            if place.vcl {
                self.timeline.note_slice(place.au, place.idr);
            }
            self.ensure_openh264()?;
            let decoder = self.openh264.as_mut().expect("ensured above");
            let decoded = decoder.decode_nal(&unit.data, place.au);
            if let Some(problem) = decoded.status.reason() {
                self.timeline.note_problem(place.au, problem);
            }
            let concealed = decoded.status.concealed();
            // References are missing when a predicted picture comes before
            // any IDR picture, or when the decoder reports damage (a lost
            // reference, missing parameter sets, a corrupt or concealed
            // slice): later pictures build on what was lost. A clean IDR
            // slice closes the gap.
            let lacking = (place.vcl && !place.idr && !self.has_idr)
                || concealed
                || decoded.status.reason().is_some();
            if let Some(p) = decoded.picture {
                let image = p.to_i420();
                let timing = self.timeline.picture(p.token());
                if concealed {
                    batch.notes.push(format!(
                        "picture at pts {} has concealed (guessed) parts: {}",
                        timing.pts,
                        decoded.status.reason().unwrap_or("damaged data")
                    ));
                }
                batch.pictures.push(Picture { image, timing });
            }
            if lacking {
                self.lacks_references(batch);
            } else if place.idr {
                self.has_idr = true;
                self.in_gap = false;
            }
        }
        Ok(())
    }
}
