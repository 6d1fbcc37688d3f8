//! Groups NAL units into access units (one coded picture each) following
//! H.264 7.4.1.2.3, so that time stamps and keyframe flags can be kept per
//! picture.
//!
//! A new access unit starts at an access unit delimiter; at an SEI, SPS or
//! PPS (or types 14-18) that follows the current picture's slices; after an
//! end-of-sequence/end-of-stream unit; and at a slice with
//! `first_mb_in_slice == 0` when the current unit already has slices. The
//! last rule is the usual shortcut for "first slice of a new primary
//! picture": it misreads only arbitrary slice order and redundant pictures
//! (Baseline tools OpenH264 does not decode differently anyway), which at
//! worst mis-attributes a time stamp.

use crate::nal::{self, types};

/// How a NAL unit relates to the access units seen so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Id of the access unit the NAL unit belongs to (from 1, increasing).
    pub au: u64,
    /// The NAL unit begins this access unit.
    pub starts_au: bool,
    /// The unit carries slice data.
    pub vcl: bool,
    /// The unit is a slice of an IDR picture.
    pub idr: bool,
}

/// Finds where access units begin in a sequence of NAL units (H.264
/// 7.4.1.2.3): fed each unit in order, it says which access unit the unit
/// belongs to.
#[derive(Default)]
pub struct AuTracker {
    current: u64,
    has_vcl: bool,
    ended: bool,
}

impl AuTracker {
    /// A tracker before the first unit of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current access unit is complete: the next NAL unit starts a new
    /// one, whatever it is. For input whose packets each hold exactly one
    /// access unit (`decode-h264 alignment=access-unit`), where the packet
    /// boundary is known to be an access-unit boundary.
    pub fn end_access_unit(&mut self) {
        self.ended = true;
    }

    /// Whether `unit`, placed next, would begin a new access unit. Asking
    /// changes nothing; a unit still being gathered may be asked about
    /// once its header (and, for slices, `first_mb_in_slice`) is in.
    pub fn starts_new(&self, unit: &[u8]) -> bool {
        let nal_type = nal::nal_type(unit);
        self.current == 0
            || self.ended
            || match nal_type {
                Some(types::AUD) => true,
                Some(types::SEI | types::SPS | types::PPS | 14..=18) => self.has_vcl,
                Some(types::SLICE | types::PARTITION_A | types::IDR) => {
                    self.has_vcl && nal::first_mb_in_slice(unit) == Some(0)
                }
                _ => false,
            }
    }

    /// Places the next NAL unit of the stream.
    pub fn place(&mut self, unit: &[u8]) -> Placement {
        let nal_type = nal::nal_type(unit);
        let vcl = nal_type.is_some_and(nal::is_vcl);
        let starts = self.starts_new(unit);
        if starts {
            self.current += 1;
            self.has_vcl = false;
            self.ended = false;
        }
        self.has_vcl |= vcl;
        self.ended = matches!(
            nal_type,
            Some(types::END_OF_SEQUENCE | types::END_OF_STREAM)
        );
        Placement {
            au: self.current,
            starts_au: starts,
            vcl,
            idr: nal_type == Some(types::IDR),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUD: &[u8] = &[0, 0, 1, 0x09, 0xf0];
    const SPS: &[u8] = &[0, 0, 1, 0x67, 0x42];
    const PPS: &[u8] = &[0, 0, 1, 0x68, 0xce];
    const SEI: &[u8] = &[0, 0, 1, 0x06, 0x05];
    const IDR0: &[u8] = &[0, 0, 1, 0x65, 0x88]; // first_mb 0
    const IDR9: &[u8] = &[0, 0, 1, 0x65, 0x14]; // first_mb 9 (0001010)
    const P0: &[u8] = &[0, 0, 1, 0x41, 0x9a];
    const P9: &[u8] = &[0, 0, 1, 0x41, 0x14];
    const EOS: &[u8] = &[0, 0, 1, 0x0a];

    fn ids(units: &[&[u8]]) -> Vec<(u64, bool)> {
        let mut t = AuTracker::new();
        units
            .iter()
            .map(|u| t.place(u))
            .map(|p| (p.au, p.starts_au))
            .collect()
    }

    #[test]
    fn parameter_sets_and_slices_of_one_picture_share_an_au() {
        assert_eq!(
            ids(&[SPS, PPS, IDR0, IDR9, P0, P9, P0]),
            vec![
                (1, true),
                (1, false),
                (1, false),
                (1, false),
                (2, true),
                (2, false),
                (3, true)
            ]
        );
    }

    #[test]
    fn non_vcl_units_after_slices_start_the_next_au() {
        assert_eq!(
            ids(&[IDR0, SEI, P0, SPS, PPS, IDR0]),
            vec![
                (1, true),
                (2, true),
                (2, false),
                (3, true),
                (3, false),
                (3, false)
            ]
        );
    }

    #[test]
    fn delimiters_always_start_an_au() {
        assert_eq!(
            ids(&[AUD, SPS, IDR0, AUD, P0]),
            vec![(1, true), (1, false), (1, false), (2, true), (2, false)]
        );
    }

    #[test]
    fn end_of_sequence_closes_the_au() {
        assert_eq!(
            ids(&[IDR0, EOS, IDR0]),
            vec![(1, true), (1, false), (2, true)]
        );
    }

    #[test]
    fn an_ended_access_unit_makes_the_next_unit_start_one() {
        let mut t = AuTracker::new();
        t.place(SPS);
        t.place(IDR0);
        t.end_access_unit();
        // A slice that would otherwise continue the picture (first_mb 9).
        let p = t.place(P9);
        assert_eq!((p.au, p.starts_au), (2, true));
        assert!(!t.place(P9).starts_au);
    }

    #[test]
    fn idr_and_vcl_flags() {
        let mut t = AuTracker::new();
        let p = t.place(IDR0);
        assert!(p.vcl && p.idr);
        let p = t.place(SPS);
        assert!(!p.vcl && !p.idr);
        let p = t.place(&[0, 0, 1]);
        assert!(!p.vcl);
    }
}
