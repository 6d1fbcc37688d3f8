//! The `native-h264` import: encoders the host runs for a stage instance,
//! charged to its budget, at most one at a time.

use wasmtime::Result;
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::WasiView;

use crate::bindings::native_h264::{self as wit, EncoderConfig};
use crate::bindings::types::Packet;
use crate::frame::Frame;
use crate::native_h264::{
    MAX_ENCODERS_PER_INSTANCE, NativeEncoder, check_config, codec_log, encoder_bytes, make_encoder,
};
#[cfg(feature = "native-h264")]
use crate::native_h264::{check_bitrate, encode_frame};
use crate::stage_state::StageState;

/// The stage instance's resource table, where its frames and encoders live.
/// What OpenH264 logged during the native call, through the stage's log
/// allowance.
fn forward_codec_log(state: &mut StageState) {
    for (level, line) in codec_log::take() {
        state.log_line(level, &line);
    }
}

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
        let made = make_encoder(&config);
        forward_codec_log(self);
        let mut encoder = match made {
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
        forward_codec_log(self);
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
        let result = codec
            .set_bitrate(bitrate)
            .map_err(|error| error.to_string());
        forward_codec_log(self);
        Ok(result)
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
