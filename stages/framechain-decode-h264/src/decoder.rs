//! The decoder proper, free of the component interface so it can be driven
//! natively by tests: bytes in, pictures with timing and drop reports out.

use framechain_openh264::{self as openh264, DecoderOptions, I420, log::Level};

use crate::access_unit::AuTracker;
use crate::annexb::{Split, Splitter};
use crate::config::{Alignment, DecodeConfig};
use crate::nal::{nal_type, types};
use crate::params::{pps_ids, slice_pps_id, sps_size};
use crate::timing::{Lost, Timeline, Timing};

/// Largest NAL unit accepted: far above any real slice (a 4K intra slice at
/// a high bitrate is a few MiB), low enough that garbage cannot exhaust the
/// component's memory.
pub const MAX_NAL_SIZE: usize = 16 << 20;

/// Access units after which a missing picture is given up on: well beyond
/// the deepest reordering H.264 allows (16 pictures).
const GIVE_UP_WINDOW: u64 = 40;

/// The drop reason of a picture refused at its sequence parameter set.
/// Fixed text (the sizes go to the log): drop reasons become metric labels.
pub const OVER_SIZE: &str = "over max-width/max-height: refused at its SPS before decoding";

/// The drop reason of a picture whose sequence parameter set could not be
/// read while a bound is set: what cannot be judged is not decoded.
pub const UNREADABLE_SPS: &str = "SPS unreadable: refused before decoding (max-width/max-height)";

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
    /// Sequence parameter set ids (bit per id) whose last set was refused
    /// (over the bound, or unreadable): slices built on them are dropped
    /// undecoded. The set itself never reaches OpenH264.
    refused_sps: u32,
    /// The drop reason for each refused id.
    refused_why: [&'static str; 32],
    /// The sequence parameter set id of each picture parameter set id, as
    /// the last PPS with that id said (`None`: not seen).
    pps_to_sps: [Option<u8>; 256],
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
            refused_sps: 0,
            refused_why: [OVER_SIZE; 32],
            pps_to_sps: [None; 256],
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
            if let Some(reason) = self.refuses(&unit.data, batch) {
                // Dropped at once, counted once per picture (its record
                // goes with the first refused slice).
                batch.lost.extend(self.timeline.refuse(place.au, reason));
                continue;
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

    /// Whether `unit` is not to reach OpenH264, and why: a sequence
    /// parameter set announcing a picture over the bound (or one that
    /// cannot be read while there is a bound), or a slice built on one. A
    /// 4096x2304 IDR picture costs about 70 ms to decode; refused here it
    /// costs reading a few header bits. Picture parameter sets are read for
    /// the id of their sequence parameter set and go on.
    fn refuses(&mut self, unit: &[u8], batch: &mut Batch) -> Option<&'static str> {
        let (max_width, max_height) = self.config.max_picture;
        if max_width.is_none() && max_height.is_none() {
            return None;
        }
        match nal_type(unit)? {
            types::SPS => {
                let (id, refused) = match sps_size(unit) {
                    Some(size) if size.fits(max_width, max_height) => (size.id, None),
                    Some(size) => {
                        batch.notes.push(format!(
                            "refused a sequence parameter set of {}x{} pictures (coded {}x{}): over max-width/max-height {}",
                            size.width,
                            size.height,
                            size.coded_width,
                            size.coded_height,
                            bound(max_width, max_height)
                        ));
                        (size.id, Some(OVER_SIZE))
                    }
                    None => {
                        batch.notes.push(
                            "refused a sequence parameter set that cannot be read".to_owned(),
                        );
                        // Its id is the first field after three bytes; an
                        // unreadable one refuses id 0, the usual one.
                        (0, Some(UNREADABLE_SPS))
                    }
                };
                let bit = 1u32 << id;
                match refused {
                    Some(reason) => {
                        self.refused_sps |= bit;
                        self.refused_why[usize::from(id)] = reason;
                    }
                    None => self.refused_sps &= !bit,
                }
                refused
            }
            types::PPS => {
                if let Some((pps, sps)) = pps_ids(unit) {
                    self.pps_to_sps[usize::from(pps)] = Some(sps);
                }
                None
            }
            kind if crate::nal::is_vcl(kind) => {
                let sps = self.pps_to_sps[usize::from(slice_pps_id(unit)?)]?;
                (self.refused_sps & (1u32 << sps) != 0).then(|| self.refused_why[usize::from(sps)])
            }
            _ => None,
        }
    }
}

/// `1920x1080`, `1920 wide`, `1080 high`.
fn bound(max_width: Option<u32>, max_height: Option<u32>) -> String {
    match (max_width, max_height) {
        (Some(w), Some(h)) => format!("{w}x{h}"),
        (Some(w), None) => format!("{w} wide"),
        (None, Some(h)) => format!("{h} high"),
        (None, None) => "none".to_owned(),
    }
}
