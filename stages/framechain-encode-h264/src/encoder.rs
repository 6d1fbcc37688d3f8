//! The encoder proper ([`WasmEncoder`], OpenH264 in this component), free
//! of the component interface so it can be driven natively by tests: I420
//! pictures in, Annex-B access units out. Also what it shares with the
//! host's native encoder ([`crate::native::NativeEncoder`]): the results,
//! the errors and the size check.

use framechain_openh264::{Encoder, Error, FrameKind, I420, MIN_SIZE};

use crate::config::EncodeConfig;

/// Why a picture could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// The picture has a size OpenH264 cannot encode.
    Unsupported(String),
    /// OpenH264 failed.
    Codec(String),
}

/// One encoded picture: an access unit, or a picture rate control skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encoded {
    AccessUnit { data: Vec<u8>, keyframe: bool },
    Skipped,
}

/// Refuses picture sizes OpenH264 cannot encode, the same way whichever
/// encoder (in wasm or the host's native one) would get them.
pub fn check_size(w: u32, h: u32) -> Result<(), EncodeError> {
    if w < MIN_SIZE || h < MIN_SIZE || !w.is_multiple_of(2) || !h.is_multiple_of(2) {
        return Err(EncodeError::Unsupported(format!(
            "OpenH264 encodes only even sizes of at least {MIN_SIZE}x{MIN_SIZE}, got {w}x{h}; put `scale` in front"
        )));
    }
    Ok(())
}

/// Bytes OpenH264 allocates and first writes when it opens for and
/// encodes a first picture of `width` x `height`, about: 12 times an I420
/// picture (measured with `live coldstart` at 720p, docs/performance.md,
/// "Warm starts": 9 times left twice the page faults to the first
/// picture, for the same resident memory).
fn first_picture_bytes(width: u32, height: u32) -> usize {
    width as usize * height as usize * 3 / 2 * 12
}

/// The `encode-h264` encoder with OpenH264 compiled into this component
/// (`accel=none`): one OpenH264 encoder per picture size.
pub struct WasmEncoder {
    config: EncodeConfig,
    /// Made for the first picture's size, again when the size changes.
    encoder: Option<Encoder>,
}

impl WasmEncoder {
    /// Checks that OpenH264 accepts the settings, so a bad combination is
    /// reported when the processor is made, not on the first frame. With
    /// an expected size the encoder made for the check is the one the
    /// first picture of that size uses: its buffers are allocated here,
    /// off the first picture's path, and it encodes exactly as one made
    /// at that picture would (nothing has gone through it).
    pub fn new(config: EncodeConfig) -> Result<WasmEncoder, String> {
        let (width, height) = config.expect_size.unwrap_or((640, 480));
        if config.expect_size.is_some() {
            check_size(width, height).map_err(|error| match error {
                EncodeError::Unsupported(m) | EncodeError::Codec(m) => m,
            })?;
            // OpenH264 allocates much of its memory without writing it
            // until the first picture: made ready first, the encoder's
            // buffers come from pages already mapped.
            framechain_stage::memory::prefault(first_picture_bytes(width, height))?;
        }
        let encoder =
            Encoder::new(&config.encoder_config(width, height)).map_err(|e| e.to_string())?;
        Ok(WasmEncoder {
            encoder: config.expect_size.map(|_| encoder),
            config,
        })
    }

    /// Changes the target bitrate for the pictures that follow (already
    /// checked: see [`crate::control::target_bitrate`]), in the encoder at
    /// work and in the one made for the next new size.
    pub fn set_bitrate(&mut self, bitrate: u32) -> Result<(), EncodeError> {
        self.config.bitrate = bitrate;
        match &mut self.encoder {
            Some(encoder) => encoder
                .set_bitrate(bitrate)
                .map_err(|e| EncodeError::Codec(e.to_string())),
            None => Ok(()),
        }
    }

    /// Encodes one picture. `timestamp_ms` feeds rate control; `force_idr`
    /// makes the picture a keyframe.
    pub fn encode(
        &mut self,
        picture: &I420,
        timestamp_ms: i64,
        force_idr: bool,
    ) -> Result<Encoded, EncodeError> {
        let (w, h) = (picture.width, picture.height);
        check_size(w, h)?;
        let encoder = match &mut self.encoder {
            Some(e) if e.size() == (w, h) => e,
            slot => {
                // A new size is a new sequence: new SPS/PPS, starting with an
                // IDR picture.
                *slot = None;
                let made =
                    Encoder::new(&self.config.encoder_config(w, h)).map_err(|e| match e {
                        Error::Unsupported(m) => EncodeError::Unsupported(m),
                        other => {
                            EncodeError::Unsupported(format!("cannot encode {w}x{h}: {other}"))
                        }
                    })?;
                slot.insert(made)
            }
        };
        if force_idr {
            encoder.force_idr();
        }
        let out = encoder
            .encode(picture, timestamp_ms)
            .map_err(|e| EncodeError::Codec(e.to_string()))?;
        Ok(match out.kind {
            FrameKind::Skipped => Encoded::Skipped,
            kind => Encoded::AccessUnit {
                data: out.data,
                keyframe: kind == FrameKind::Idr,
            },
        })
    }
}
