//! Safe wrapper around OpenH264's decoder.

use std::ffi::c_void;
use std::ptr::NonNull;

use crate::Error;
use crate::ffi::{self, ds};
use crate::log::Level;

/// How the decoder is set up.
#[derive(Debug, Clone)]
pub struct DecoderOptions {
    /// Fill lost or damaged slices from earlier pictures and still output
    /// the picture. Without it, damaged pictures are not output.
    pub conceal_errors: bool,
    /// Least severe OpenH264 log line to pass to the log sink.
    pub log_level: Level,
}

impl Default for DecoderOptions {
    fn default() -> Self {
        Self {
            conceal_errors: true,
            log_level: Level::Warning,
        }
    }
}

/// An H.264 decoder fed one Annex-B NAL unit at a time.
pub struct Decoder {
    raw: NonNull<c_void>,
}

/// What OpenH264 said about one NAL unit (its DECODING_STATE bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeStatus(pub i32);

impl DecodeStatus {
    /// No problem at all.
    pub fn is_clean(self) -> bool {
        self.0 == 0
    }

    /// The picture was output with concealed (guessed) parts.
    pub fn concealed(self) -> bool {
        self.0 & ds::DATA_ERROR_CONCEALED != 0
    }

    /// A short reason for the problem, most telling first, or `None` when
    /// the status reports none.
    pub fn reason(self) -> Option<&'static str> {
        let s = self.0;
        let table: &[(i32, &'static str)] = &[
            (ds::OUT_OF_MEMORY, "decoder out of memory"),
            (
                ds::NO_PARAM_SETS,
                "missing parameter sets (waiting for a keyframe)",
            ),
            (ds::REF_LOST, "missing reference"),
            (ds::REF_LIST_NULL_PTRS, "missing reference"),
            (ds::DEP_LAYER_LOST, "missing dependency layer"),
            (ds::BITSTREAM_ERROR, "corrupt slice"),
            (ds::INVALID_ARGUMENT, "invalid NAL unit"),
            (ds::DST_BUF_NEED_EXPAN, "picture too large"),
            (ds::INIT_EXPECTED, "decoder not initialised"),
        ];
        table.iter().find(|(bit, _)| s & bit != 0).map(|(_, r)| *r)
    }
}

/// A decoded picture, cropped to its visible size. It borrows the decoder's
/// buffers, so copy it out before the next call.
pub struct PictureRef<'a> {
    raw: ffi::Picture,
    _decoder: std::marker::PhantomData<&'a mut Decoder>,
}

/// A picture copied out of the decoder: tightly packed I420 planes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct I420 {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Luma, `width * height` bytes.
    pub y: Vec<u8>,
    /// Cb, a quarter of the luma's size (halved and rounded up each way).
    pub u: Vec<u8>,
    /// Cr, as `u`.
    pub v: Vec<u8>,
}

impl I420 {
    /// Width and height of the chroma planes: half, rounded up.
    pub fn chroma_size(width: u32, height: u32) -> (u32, u32) {
        (width.div_ceil(2), height.div_ceil(2))
    }
}

impl<'a> PictureRef<'a> {
    /// Accepts only pictures whose geometry makes sense, so that copying can
    /// never read outside the decoder's buffers.
    fn new(raw: ffi::Picture) -> Option<Self> {
        let ok = raw.width > 0
            && raw.height > 0
            && raw.plane.iter().all(|p| !p.is_null())
            && raw.stride[0] >= raw.width
            && raw.stride[1] >= (raw.width + 1) / 2;
        ok.then_some(Self {
            raw,
            _decoder: std::marker::PhantomData,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.raw.width as u32
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.raw.height as u32
    }

    /// The token given with the NAL unit that started this picture.
    pub fn token(&self) -> u64 {
        self.raw.token
    }

    /// Copies the picture into packed planes (no stride padding).
    pub fn to_i420(&self) -> I420 {
        let (w, h) = (self.width(), self.height());
        let (cw, ch) = I420::chroma_size(w, h);
        I420 {
            width: w,
            height: h,
            y: self.copy_plane(0, w, h),
            u: self.copy_plane(1, cw, ch),
            v: self.copy_plane(2, cw, ch),
        }
    }

    fn copy_plane(&self, index: usize, width: u32, height: u32) -> Vec<u8> {
        let stride = self.raw.stride[index.min(1)] as usize;
        let (width, height) = (width as usize, height as usize);
        let mut out = Vec::with_capacity(width * height);
        for row in 0..height {
            // SAFETY: OpenH264 guarantees `height` rows of `stride` bytes
            // from the (cropped) plane pointer; `new` checked width <= stride.
            let line = unsafe {
                std::slice::from_raw_parts(self.raw.plane[index].add(row * stride), width)
            };
            out.extend_from_slice(line);
        }
        out
    }
}

/// The result of feeding one NAL unit.
pub struct Decoded<'a> {
    /// What the decoder made of the unit.
    pub status: DecodeStatus,
    /// A picture completed by the unit, borrowed from the decoder until
    /// the next call.
    pub picture: Option<PictureRef<'a>>,
}

impl Decoder {
    /// A decoder set up as `options` says.
    pub fn new(options: &DecoderOptions) -> Result<Self, Error> {
        // SAFETY: plain constructor; returns NULL on failure.
        let raw =
            unsafe { ffi::fc_dec_new(options.conceal_errors as i32, options.log_level.to_wels()) };
        NonNull::new(raw)
            .map(|raw| Self { raw })
            .ok_or(Error::Create("WelsCreateDecoder/Initialize failed".into()))
    }

    /// Feeds one NAL unit, start code included. `token` comes back with the
    /// picture this NAL unit starts (see [`PictureRef::token`]); use it to
    /// carry timestamps through the decoder's reordering.
    pub fn decode_nal(&mut self, nal: &[u8], token: u64) -> Decoded<'_> {
        // Larger inputs are refused by the NAL splitter long before this.
        let len = i32::try_from(nal.len()).unwrap_or(i32::MAX);
        let mut picture = ffi::Picture::default();
        let mut ready = 0;
        // SAFETY: `nal` is valid for `len` bytes; the decoder copies what it
        // keeps. `picture` and `ready` are valid out-pointers.
        let status = unsafe {
            ffi::fc_dec_decode(
                self.raw.as_ptr(),
                nal.as_ptr(),
                len,
                token,
                &mut picture,
                &mut ready,
            )
        };
        let picture = if ready == 1 {
            PictureRef::new(picture)
        } else {
            None
        };
        Decoded {
            status: DecodeStatus(status),
            picture,
        }
    }

    /// Tells the decoder no more input follows; returns how many pictures it
    /// still holds back for reordering (fetch them with [`Self::flush_one`]).
    pub fn end_of_stream(&mut self) -> usize {
        // SAFETY: valid decoder.
        let n = unsafe { ffi::fc_dec_end_of_stream(self.raw.as_ptr()) };
        n.max(0) as usize
    }

    /// Returns the next held-back picture after [`Self::end_of_stream`].
    pub fn flush_one(&mut self) -> Option<PictureRef<'_>> {
        let mut picture = ffi::Picture::default();
        // SAFETY: valid decoder and out-pointer.
        let ready = unsafe { ffi::fc_dec_flush(self.raw.as_ptr(), &mut picture) };
        if ready == 1 {
            PictureRef::new(picture)
        } else {
            None
        }
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: made by fc_dec_new, freed once.
        unsafe { ffi::fc_dec_free(self.raw.as_ptr()) }
    }
}
