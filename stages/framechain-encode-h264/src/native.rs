//! `accel=native`: the same encoding done by the host's native encoder
//! (the `native-h264` import) instead of the OpenH264 in this component.
//!
//! The stage keeps the same rules as the in-wasm [`WasmEncoder`](crate::encoder::WasmEncoder):
//! sizes are checked the same way, a new size makes a new encoder (a new
//! sequence, IDR first), keyframe requests force an IDR picture, a new
//! target bitrate goes to the host's encoder (`set-bitrate`). The frame
//! never enters this component's memory: the host encodes it where it is.
//!
//! Only works inside a host; natively (tests) the import cannot be called.

use framechain_stage::Frame;
use framechain_stage::bindings::framechain::stage::native_h264::Encoder;

use crate::config::EncodeConfig;
use crate::encoder::{EncodeError, Encoded, check_size};

/// The `encode-h264` encoder for `accel=native`: the host's native OpenH264
/// encoder, one per picture size.
pub struct NativeEncoder {
    config: EncodeConfig,
    /// The host's encoder and the size it was made for.
    encoder: Option<(Encoder, (u32, u32))>,
}

impl NativeEncoder {
    /// Checks that the host offers a native encoder and accepts the
    /// settings, so that a pipeline asking for one fails when it is built,
    /// not on its first frame.
    pub fn new(config: EncodeConfig) -> Result<NativeEncoder, String> {
        drop(Encoder::create(config.native_config(640, 480))?);
        Ok(NativeEncoder {
            config,
            encoder: None,
        })
    }

    /// Changes the target bitrate for the pictures that follow, in the
    /// host's encoder at work and in the one made for the next new size.
    pub fn set_bitrate(&mut self, bitrate: u32) -> Result<(), EncodeError> {
        self.config.bitrate = bitrate;
        match &mut self.encoder {
            Some((encoder, _)) => encoder.set_bitrate(bitrate).map_err(EncodeError::Codec),
            None => Ok(()),
        }
    }

    /// Encodes one frame of `width` x `height`; `force_idr` makes it a
    /// keyframe. The packet's timing comes from the frame.
    pub fn encode(
        &mut self,
        frame: &Frame,
        (width, height): (u32, u32),
        force_idr: bool,
    ) -> Result<Encoded, EncodeError> {
        check_size(width, height)?;
        let encoder = match &mut self.encoder {
            Some((encoder, size)) if *size == (width, height) => encoder,
            slot => {
                // The host holds one native encoder per instance: drop the
                // old one before asking for the next.
                *slot = None;
                let made =
                    Encoder::create(self.config.native_config(width, height)).map_err(|e| {
                        EncodeError::Unsupported(format!("cannot encode {width}x{height}: {e}"))
                    })?;
                &mut slot.insert((made, (width, height))).0
            }
        };
        let packet = encoder
            .encode(frame, force_idr)
            .map_err(EncodeError::Codec)?;
        Ok(match packet {
            Some(packet) => Encoded::AccessUnit {
                data: packet.data,
                keyframe: packet.keyframe,
            },
            None => Encoded::Skipped,
        })
    }
}
