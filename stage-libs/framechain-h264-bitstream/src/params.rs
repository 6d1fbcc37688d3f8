//! The picture size a sequence parameter set announces (H.264 7.3.2.1.1),
//! and the parameter-set ids that tie a slice to it (7.3.2.2, 7.3.3), so a
//! decoder can refuse a picture size before it spends anything decoding.
//!
//! Every field before the size is read (scaling lists included), because
//! the size comes late in the set; every read is bounded by the unit's
//! bytes, and a set that ends early or holds an impossible value is
//! `None`, never a panic.

use crate::nal::{payload, types};

/// What a sequence parameter set says about the picture size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpsSize {
    /// `seq_parameter_set_id`, 0 to 31.
    pub id: u8,
    /// The coded size in pixels: whole macroblocks (a frame of field pairs
    /// counts both fields).
    pub coded_width: u32,
    /// See [`SpsSize::coded_width`].
    pub coded_height: u32,
    /// The size after the frame cropping the set asks for: what a decoder
    /// gives out. Equal to the coded size when the cropping is absent or
    /// impossible (larger than the picture).
    pub width: u32,
    /// See [`SpsSize::width`].
    pub height: u32,
    /// Map units are field pairs (`frame_mbs_only_flag` is 0): the coded
    /// height is a multiple of 32.
    pub fields: bool,
}

impl SpsSize {
    /// Whether the pictures fit `max_width` x `max_height` (each `None`:
    /// no bound on that side; with both, either way round, as a portrait
    /// picture fits a landscape bound). The visible size must fit, and
    /// the coded size must fit the bound rounded up to whole macroblocks
    /// (32 lines for field pairs), so that cropping cannot hide a coded
    /// picture far larger than the one shown: the coded size is what a
    /// decoder pays for.
    pub fn fits(&self, max_width: Option<u32>, max_height: Option<u32>) -> bool {
        let row = if self.fields { 32 } else { 16 };
        let side = |size: u32, coded: u32, max: Option<u32>, unit: u32| {
            max.is_none_or(|max| size <= max && coded <= max.div_ceil(unit).saturating_mul(unit))
        };
        let fits = |w: u32, h: u32, cw: u32, ch: u32| {
            side(w, cw, max_width, 16) && side(h, ch, max_height, row)
        };
        let as_is = fits(self.width, self.height, self.coded_width, self.coded_height);
        let turned = max_width.is_some()
            && max_height.is_some()
            && fits(self.height, self.width, self.coded_height, self.coded_width);
        as_is || turned
    }
}

/// Reads a sequence parameter set (the whole NAL unit, start code or not).
/// `None` when the unit is not an SPS or is damaged or truncated.
pub fn sps_size(nal: &[u8]) -> Option<SpsSize> {
    let payload = payload(nal);
    if payload.first()? & 0x1f != types::SPS {
        return None;
    }
    let rbsp = unescape(payload.get(1..)?, 2048);
    let mut r = Bits::new(&rbsp);
    let profile_idc = r.bits(8)?;
    r.bits(8)?; // constraint flags, reserved bits
    r.bits(8)?; // level_idc
    let id = u8::try_from(r.ue()?).ok().filter(|id| *id < 32)?;
    let mut chroma_format_idc = 1;
    let mut separate_colour_plane = false;
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format_idc = r.ue()?;
        if chroma_format_idc > 3 {
            return None;
        }
        if chroma_format_idc == 3 {
            separate_colour_plane = r.bit()? == 1;
        }
        r.ue()?; // bit_depth_luma_minus8
        r.ue()?; // bit_depth_chroma_minus8
        r.bit()?; // qpprime_y_zero_transform_bypass_flag
        if r.bit()? == 1 {
            // seq_scaling_matrix_present_flag
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for index in 0..lists {
                if r.bit()? == 1 {
                    skip_scaling_list(&mut r, if index < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            r.bit()?; // delta_pic_order_always_zero_flag
            r.se()?; // offset_for_non_ref_pic
            r.se()?; // offset_for_top_to_bottom_field
            let cycle = r.ue()?;
            if cycle > 255 {
                return None;
            }
            for _ in 0..cycle {
                r.se()?;
            }
        }
        2 => {}
        _ => return None,
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = u64::from(r.ue()?) + 1;
    let height_map_units = u64::from(r.ue()?) + 1;
    let frame_mbs_only = r.bit()? == 1;
    if !frame_mbs_only {
        r.bit()?; // mb_adaptive_frame_field_flag
    }
    r.bit()?; // direct_8x8_inference_flag
    let coded_width = width_mbs * 16;
    let coded_height = height_map_units * 16 * if frame_mbs_only { 1 } else { 2 };
    let (mut width, mut height) = (coded_width, coded_height);
    if r.bit()? == 1 {
        // frame_cropping_flag: offsets in chroma sample units (6.2, 7.4.2.1.1)
        let (left, right, top, bottom) = (r.ue()?, r.ue()?, r.ue()?, r.ue()?);
        let chroma_array_type = if separate_colour_plane {
            0
        } else {
            chroma_format_idc
        };
        let (unit_x, unit_y) = match chroma_array_type {
            0 => (1, 1),
            1 => (2, 2),
            2 => (2, 1),
            _ => (1, 1),
        };
        let unit_y = unit_y * if frame_mbs_only { 1 } else { 2 };
        let crop_x = (u64::from(left) + u64::from(right)) * unit_x;
        let crop_y = (u64::from(top) + u64::from(bottom)) * unit_y;
        // An impossible cropping is ignored: the coded size stands.
        if crop_x < coded_width && crop_y < coded_height {
            width = coded_width - crop_x;
            height = coded_height - crop_y;
        }
    }
    let size = |value: u64| u32::try_from(value).ok();
    Some(SpsSize {
        id,
        coded_width: size(coded_width)?,
        coded_height: size(coded_height)?,
        width: size(width)?,
        height: size(height)?,
        fields: !frame_mbs_only,
    })
}

/// `(pic_parameter_set_id, seq_parameter_set_id)` of a picture parameter
/// set; `None` when the unit is not a PPS or is damaged.
pub fn pps_ids(nal: &[u8]) -> Option<(u8, u8)> {
    let payload = payload(nal);
    if payload.first()? & 0x1f != types::PPS {
        return None;
    }
    let rbsp = unescape(payload.get(1..)?, 16);
    let mut r = Bits::new(&rbsp);
    let pps = u8::try_from(r.ue()?).ok()?;
    let sps = u8::try_from(r.ue()?).ok().filter(|id| *id < 32)?;
    Some((pps, sps))
}

/// `pic_parameter_set_id` of a slice (types 1, 2 and 5): the third field
/// of its header. `None` when the unit is damaged or not a slice.
pub fn slice_pps_id(nal: &[u8]) -> Option<u8> {
    let payload = payload(nal);
    if !crate::nal::is_vcl(payload.first()? & 0x1f) {
        return None;
    }
    let rbsp = unescape(payload.get(1..)?, 16);
    let mut r = Bits::new(&rbsp);
    r.ue()?; // first_mb_in_slice
    r.ue()?; // slice_type
    u8::try_from(r.ue()?).ok()
}

/// scaling_list( ) (7.3.2.1.1.1): only read past.
fn skip_scaling_list(r: &mut Bits<'_>, size: usize) -> Option<()> {
    let (mut last, mut next) = (8i64, 8i64);
    for _ in 0..size {
        if next != 0 {
            let delta = r.se()?;
            next = (last + delta + 256).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Some(())
}

/// The RBSP of at most `max` bytes of a unit's payload (after its header
/// byte): emulation-prevention bytes (`00 00 03`) removed.
fn unescape(bytes: &[u8], max: usize) -> Vec<u8> {
    let mut rbsp = Vec::with_capacity(bytes.len().min(max));
    let mut zeros = 0;
    for &b in bytes {
        if rbsp.len() == max {
            break;
        }
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        rbsp.push(b);
    }
    rbsp
}

/// MSB-first bit reader over RBSP bytes.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Bits { data, pos: 0 }
    }

    fn bit(&mut self) -> Option<u32> {
        let byte = self.data.get(self.pos / 8)?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Some(u32::from(bit))
    }

    fn bits(&mut self, count: u32) -> Option<u32> {
        (0..count).try_fold(0, |value, _| Some((value << 1) | self.bit()?))
    }

    /// ue(v): leading zeros, a one, then that many bits.
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        let rest = u64::from(self.bits(zeros)?);
        u32::try_from((1u64 << zeros) - 1 + rest).ok()
    }

    /// se(v): ue(v) mapped 0, 1, -1, 2, -2, ...
    fn se(&mut self) -> Option<i64> {
        let k = i64::from(self.ue()?);
        Some(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes bits MSB first, for building parameter sets by hand.
    #[derive(Default)]
    struct Writer {
        bits: Vec<u8>,
    }

    impl Writer {
        fn bits(&mut self, value: u32, count: u32) -> &mut Self {
            for i in (0..count).rev() {
                self.bits.push(((value >> i) & 1) as u8);
            }
            self
        }
        fn ue(&mut self, value: u32) -> &mut Self {
            let v = u64::from(value) + 1;
            let len = 64 - v.leading_zeros();
            self.bits(0, len - 1);
            for i in (0..len).rev() {
                self.bits.push(((v >> i) & 1) as u8);
            }
            self
        }
        /// The unit with its start code, trailing bits and emulation
        /// prevention.
        fn nal(&mut self, header: u8) -> Vec<u8> {
            self.bits.push(1);
            while !self.bits.len().is_multiple_of(8) {
                self.bits.push(0);
            }
            let rbsp: Vec<u8> = self
                .bits
                .chunks(8)
                .map(|c| c.iter().fold(0, |b, bit| (b << 1) | bit))
                .collect();
            let mut nal = vec![0, 0, 0, 1, header];
            let mut zeros = 0;
            for b in rbsp {
                if zeros >= 2 && b <= 3 {
                    nal.push(3);
                    zeros = 0;
                }
                zeros = if b == 0 { zeros + 1 } else { 0 };
                nal.push(b);
            }
            nal
        }
    }

    /// A baseline SPS of `w_mbs` x `h_units` macroblocks with a cropping.
    fn baseline(id: u32, w_mbs: u32, h_units: u32, crop_bottom: Option<u32>) -> Vec<u8> {
        let mut w = Writer::default();
        w.bits(66, 8).bits(0, 8).bits(51, 8).ue(id);
        w.ue(0).ue(0).ue(0); // frame_num, poc type 0, poc lsb
        w.ue(1).bits(0, 1); // refs, gaps
        w.ue(w_mbs - 1).ue(h_units - 1).bits(1, 1).bits(1, 1); // size, frame_mbs_only, direct_8x8
        match crop_bottom {
            Some(bottom) => w.bits(1, 1).ue(0).ue(0).ue(0).ue(bottom),
            None => w.bits(0, 1),
        };
        w.bits(0, 1); // vui
        w.nal(0x67)
    }

    #[test]
    fn a_baseline_sps_gives_its_cropped_size() {
        // 1920x1080: 120 x 68 macroblocks, 8 lines cropped (4 chroma rows).
        let size = sps_size(&baseline(0, 120, 68, Some(4))).unwrap();
        assert_eq!(
            (size.coded_width, size.coded_height, size.width, size.height),
            (1920, 1088, 1920, 1080)
        );
        assert!(size.fits(Some(1920), Some(1080)));
        assert!(size.fits(Some(1080), Some(1920)), "either way round");
        assert!(!size.fits(Some(1280), Some(720)));
        assert!(size.fits(None, None));
        // 4096x2304.
        let size = sps_size(&baseline(3, 256, 144, None)).unwrap();
        assert_eq!((size.id, size.width, size.height), (3, 4096, 2304));
        assert!(!size.fits(Some(1920), Some(1080)));
        assert!(!size.fits(Some(4000), None));
        assert!(size.fits(Some(4096), None));
    }

    #[test]
    fn cropping_cannot_hide_a_larger_coded_picture() {
        // 4096x2304 coded, cropped to 4096x1080 visible: the visible height
        // fits a 1080-line bound, the coded one does not.
        let size = sps_size(&baseline(0, 256, 144, Some((2304 - 1080) / 2))).unwrap();
        assert_eq!((size.width, size.height), (4096, 1080));
        assert!(!size.fits(None, Some(1080)));
        // Cropping larger than the picture is ignored.
        let size = sps_size(&baseline(0, 10, 10, Some(1000))).unwrap();
        assert_eq!((size.width, size.height), (160, 160));
    }

    #[test]
    fn a_high_profile_sps_with_scaling_lists_is_read_past_them() {
        let mut w = Writer::default();
        w.bits(100, 8).bits(0, 8).bits(51, 8).ue(1);
        w.ue(1).ue(0).ue(0).bits(0, 1); // 4:2:0, 8-bit, no bypass
        w.bits(1, 1); // scaling matrix present
        w.bits(1, 1); // list 0 present: 16 deltas of +1 (se 1 = ue 1)
        for _ in 0..16 {
            w.ue(1);
        }
        w.bits(0, 7);
        w.ue(0).ue(1).bits(0, 1); // frame_num, poc type 1, not always zero
        w.ue(0).ue(0).ue(2).ue(2).ue(3); // offsets 0, 0; 2 in the cycle: -1, 2
        w.ue(4).bits(0, 1).ue(255).ue(143).bits(1, 1).bits(1, 1); // refs, size
        w.bits(0, 1).bits(0, 1); // no cropping, no VUI
        let size = sps_size(&w.nal(0x67)).unwrap();
        assert_eq!((size.id, size.width, size.height), (1, 4096, 2304));
    }

    #[test]
    fn ids_of_a_pps_and_a_slice_are_read() {
        let pps = Writer::default().ue(5).ue(3).bits(1, 1).nal(0x68);
        assert_eq!(pps_ids(&pps), Some((5, 3)));
        let slice = Writer::default().ue(0).ue(7).ue(5).nal(0x65);
        assert_eq!(slice_pps_id(&slice), Some(5));
        assert_eq!(slice_pps_id(&pps), None);
        assert_eq!(pps_ids(&slice), None);
    }

    #[test]
    fn damaged_or_truncated_sets_are_none_never_a_panic() {
        let whole = baseline(0, 256, 144, Some(4));
        for cut in 0..whole.len() - 1 {
            let _ = sps_size(&whole[..cut]);
        }
        assert_eq!(sps_size(&whole[..8]), None);
        assert_eq!(sps_size(&[0, 0, 1, 0x67, 0, 0, 0, 0, 0, 0, 0]), None);
        // Every byte pattern of a short unit: no panic.
        for a in 0..=255u8 {
            for b in [0u8, 1, 0x80, 0xff] {
                let _ = sps_size(&[0x67, 100, 0, 0, a, b, a, b, 0xff, a]);
                let _ = pps_ids(&[0x68, a, b]);
                let _ = slice_pps_id(&[0x65, a, b, a]);
            }
        }
    }
}
