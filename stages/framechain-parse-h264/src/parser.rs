//! The parser proper, free of the component interface: bytes in, whole
//! access units out.

use std::collections::VecDeque;

use framechain_h264_bitstream::access_unit::AuTracker;
use framechain_h264_bitstream::annexb::{NalUnit, Split, Splitter};
use framechain_h264_bitstream::nal::{self, types};

/// Largest NAL unit accepted (as in `decode-h264`).
pub const MAX_NAL_SIZE: usize = 16 << 20;
/// Largest access unit accepted.
pub const MAX_AU_SIZE: usize = 16 << 20;

/// Packets whose dts is remembered for access units that start in them: a
/// unit that started more packets ago gets its pts as dts.
const DTS_MEMORY: usize = 64;

/// One whole access unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessUnit {
    pub data: Vec<u8>,
    pub pts: i64,
    pub dts: i64,
    /// An IDR picture.
    pub keyframe: bool,
}

/// Something dropped, with its pts (-1: none known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub pts: i64,
    pub reason: String,
}

/// What one push or flush produced.
#[derive(Debug, Default)]
pub struct Parsed {
    pub access_units: Vec<AccessUnit>,
    pub dropped: Vec<Dropped>,
    /// Bytes skipped outside NAL units.
    pub discarded: usize,
}

/// The access unit being gathered.
struct Building {
    data: Vec<u8>,
    pts: i64,
    dts: i64,
    keyframe: bool,
    /// It grew over the limit: its bytes are gone, it will be reported.
    oversized: bool,
}

pub struct Parser {
    splitter: Splitter,
    tracker: AuTracker,
    duration: i64,
    max_nal: usize,
    max_au: usize,
    current: Option<Building>,
    /// Packets pushed so far (the splitter numbers them the same way).
    packets: u64,
    /// Recent packets' dts, oldest first.
    dts: VecDeque<(u64, i64)>,
    last_pts: Option<i64>,
    /// The last packet whose pts an access unit took.
    last_packet_used: Option<u64>,
}

impl Parser {
    /// A parser numbering access units without pts `duration` ticks apart.
    pub fn new(duration: i64) -> Parser {
        Parser::with_limits(duration, MAX_NAL_SIZE, MAX_AU_SIZE)
    }

    /// The same with other size limits (tests).
    pub fn with_limits(duration: i64, max_nal: usize, max_au: usize) -> Parser {
        Parser {
            splitter: Splitter::new(max_nal),
            tracker: AuTracker::new(),
            duration,
            max_nal,
            max_au,
            current: None,
            packets: 0,
            dts: VecDeque::new(),
            last_pts: None,
            last_packet_used: None,
        }
    }

    /// Takes the next piece of the stream; returns the access units it
    /// completed.
    pub fn push(&mut self, data: &[u8], pts: i64, dts: i64) -> Parsed {
        if self.dts.len() == DTS_MEMORY {
            self.dts.pop_front();
        }
        self.dts.push_back((self.packets, dts));
        self.packets += 1;
        let mut parsed = Parsed::default();
        let split = self.splitter.push(data, pts);
        self.absorb(split, &mut parsed);
        // The unit still being gathered may already show that it starts the
        // next access unit: then the current one is whole, out with it now
        // rather than a unit later.
        if self
            .splitter
            .pending()
            .is_some_and(|unit| self.tracker.starts_new(unit))
        {
            self.complete(&mut parsed);
        }
        parsed
    }

    /// End of stream: returns the access unit still held, and gets ready
    /// for a new stream.
    pub fn flush(&mut self) -> Parsed {
        let mut parsed = Parsed::default();
        let split = self.splitter.finish();
        self.absorb(split, &mut parsed);
        self.complete(&mut parsed);
        let (duration, max_nal, max_au) = (self.duration, self.max_nal, self.max_au);
        *self = Parser::with_limits(duration, max_nal, max_au);
        parsed
    }

    fn absorb(&mut self, split: Split, parsed: &mut Parsed) {
        parsed.discarded += split.discarded;
        for (_, pts) in split.oversized {
            parsed.dropped.push(Dropped {
                pts,
                reason: format!("NAL unit larger than {} bytes", self.max_nal),
            });
        }
        for unit in split.units {
            self.add(unit, parsed);
        }
    }

    fn add(&mut self, unit: NalUnit, parsed: &mut Parsed) {
        let place = self.tracker.place(&unit.data);
        // Without a current access unit (completed early, see `push`) the
        // unit begins one whatever the tracker says.
        if place.starts_au || self.current.is_none() {
            self.complete(parsed);
            self.begin(unit.packet, unit.pts);
        }
        let Some(au) = self.current.as_mut() else {
            return;
        };
        au.keyframe |= place.idr;
        if au.oversized {
            return;
        }
        // Annex B: a zero_byte before the first unit of an access unit and
        // before parameter sets. Units come with a three-byte start code.
        let long = au.data.is_empty()
            || matches!(nal::nal_type(&unit.data), Some(types::SPS | types::PPS));
        if au.data.len() + usize::from(long) + unit.data.len() > self.max_au {
            au.oversized = true;
            au.data = Vec::new();
            return;
        }
        if long {
            au.data.push(0);
        }
        au.data.extend_from_slice(&unit.data);
    }

    /// A new access unit starts in `packet`, whose pts is `pts`.
    fn begin(&mut self, packet: u64, pts: i64) {
        let fresh = pts >= 0 && self.last_packet_used != Some(packet);
        let (pts, dts) = if fresh {
            self.last_packet_used = Some(packet);
            let dts = self
                .dts
                .iter()
                .find(|(p, _)| *p == packet)
                .map_or(-1, |(_, d)| *d);
            (pts, if dts >= 0 { dts } else { pts })
        } else {
            let pts = self.last_pts.map_or(0, |p| p.saturating_add(self.duration));
            (pts, pts)
        };
        self.last_pts = Some(pts);
        self.current = Some(Building {
            data: Vec::new(),
            pts,
            dts,
            keyframe: false,
            oversized: false,
        });
    }

    /// The current access unit is whole: out with it (or its drop).
    fn complete(&mut self, parsed: &mut Parsed) {
        let Some(au) = self.current.take() else {
            return;
        };
        if au.oversized {
            parsed.dropped.push(Dropped {
                pts: au.pts,
                reason: format!("access unit larger than {} bytes", self.max_au),
            });
        } else if !au.data.is_empty() {
            parsed.access_units.push(AccessUnit {
                data: au.data,
                pts: au.pts,
                dts: au.dts,
                keyframe: au.keyframe,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPS: &[u8] = &[0, 0, 0, 1, 0x67, 0x42, 0x00, 0x1e];
    const PPS: &[u8] = &[0, 0, 1, 0x68, 0xce, 0x38, 0x80];
    const IDR: &[u8] = &[0, 0, 1, 0x65, 0x88, 0x84, 0x21];
    const P0: &[u8] = &[0, 0, 1, 0x41, 0x9a, 0x21];
    // first_mb_in_slice 9: a second slice of the same picture.
    const P9: &[u8] = &[0, 0, 1, 0x41, 0x14, 0x21];

    fn stream() -> Vec<u8> {
        [SPS, PPS, IDR, P0, P9, P0].concat()
    }

    fn all(parser: &mut Parser, pieces: &[&[u8]]) -> Vec<AccessUnit> {
        let mut out = Vec::new();
        for piece in pieces {
            out.extend(parser.push(piece, -1, -1).access_units);
        }
        out.extend(parser.flush().access_units);
        out
    }

    fn long(unit: &[u8]) -> Vec<u8> {
        [
            &[0u8][..],
            &unit[unit.len() - nal::payload(unit).len() - 3..],
        ]
        .concat()
    }

    #[test]
    fn access_units_whatever_the_cuts() {
        let s = stream();
        let expected = vec![
            [long(SPS), long(PPS), IDR.to_vec()].concat(),
            [long(P0), P9.to_vec()].concat(),
            long(P0),
        ];
        for a in 0..=s.len() {
            for b in a..=s.len() {
                let aus = all(&mut Parser::new(3000), &[&s[..a], &s[a..b], &s[b..]]);
                let data: Vec<Vec<u8>> = aus.iter().map(|au| au.data.clone()).collect();
                assert_eq!(data, expected, "cuts at {a}, {b}");
                let keys: Vec<bool> = aus.iter().map(|au| au.keyframe).collect();
                assert_eq!(keys, vec![true, false, false]);
            }
        }
        let bytes: Vec<&[u8]> = s.chunks(1).collect();
        assert_eq!(all(&mut Parser::new(3000), &bytes).len(), 3);
    }

    #[test]
    fn an_access_unit_waits_for_the_next_one() {
        let mut p = Parser::new(3000);
        assert!(
            p.push(&[SPS, PPS, IDR].concat(), 0, -1)
                .access_units
                .is_empty()
        );
        let out = p.push(P0, 3000, -1).access_units;
        assert_eq!(out.len(), 1);
        assert!(out[0].keyframe);
        assert_eq!((out[0].pts, out[0].dts), (0, 0));
        let out = p.flush().access_units;
        assert_eq!((out[0].pts, out[0].keyframe), (3000, false));
    }

    #[test]
    fn packet_time_stamps_and_numbering() {
        let mut p = Parser::new(3000);
        let mut out = p
            .push(&[SPS, PPS, IDR, P0].concat(), 9000, 6000)
            .access_units;
        // No pts: numbered on. pts given again: taken.
        out.extend(p.push(P0, -1, -1).access_units);
        out.extend(p.push(P0, 90_000, -1).access_units);
        out.extend(p.flush().access_units);
        let times: Vec<(i64, i64)> = out.iter().map(|au| (au.pts, au.dts)).collect();
        // The second access unit starts in the first packet too: that
        // packet's pts went to the first one.
        assert_eq!(
            times,
            vec![
                (9000, 6000),
                (12_000, 12_000),
                (15_000, 15_000),
                (90_000, 90_000)
            ]
        );
    }

    #[test]
    fn no_time_stamps_at_all_count_from_zero() {
        let s = stream();
        let out = all(&mut Parser::new(3003), &[&s]);
        let pts: Vec<i64> = out.iter().map(|au| au.pts).collect();
        assert_eq!(pts, vec![0, 3003, 6006]);
    }

    #[test]
    fn oversized_nal_units_and_access_units_are_dropped_with_a_reason() {
        // NAL units up to 64 bytes, access units up to 100.
        let mut p = Parser::with_limits(3000, 64, 100);
        let mut big_slice = vec![0, 0, 1, 0x41, 0x9a];
        big_slice.extend(std::iter::repeat_n(0x55, 200));
        let mut parsed = p.push(&[SPS, PPS, IDR].concat(), 0, -1);
        let more = p.push(&big_slice, 3000, -1);
        parsed.dropped.extend(more.dropped);
        assert_eq!(
            parsed.dropped,
            vec![Dropped {
                pts: 3000,
                reason: "NAL unit larger than 64 bytes".into(),
            }]
        );
        // Slices of one picture that together pass 100 bytes.
        let mut slice = vec![0, 0, 1, 0x41, 0x14];
        slice.extend(std::iter::repeat_n(0x55, 40));
        let picture = [P0, &slice, &slice, &slice].concat();
        let parsed = p.push(&picture, 6000, -1);
        assert_eq!(parsed.access_units.len(), 1);
        assert!(parsed.access_units[0].keyframe);
        let parsed = p.push(P0, 9000, -1);
        assert_eq!(
            parsed.dropped,
            vec![Dropped {
                pts: 6000,
                reason: "access unit larger than 100 bytes".into(),
            }]
        );
        // The stream goes on.
        let out = p.flush().access_units;
        assert_eq!((out.len(), out[0].pts), (1, 9000));
    }

    #[test]
    fn an_oversized_nal_unit_is_dropped_even_inside_one_packet() {
        // Found by the parse_h264 fuzz target: a NAL unit that began and
        // ended in the same packet escaped the NAL limit (here the access
        // unit limit is larger, so it came out whole).
        let mut p = Parser::with_limits(3000, 64, 1000);
        let mut big_slice = vec![0, 0, 1, 0x41, 0x14];
        big_slice.extend(std::iter::repeat_n(0x55, 200));
        let mut parsed = p.push(&[SPS, PPS, IDR, &big_slice, P0].concat(), 0, -1);
        let tail = p.flush();
        parsed.access_units.extend(tail.access_units);
        parsed.dropped.extend(tail.dropped);
        assert_eq!(
            parsed.dropped,
            vec![Dropped {
                pts: 0,
                reason: "NAL unit larger than 64 bytes".into(),
            }]
        );
        let data: Vec<Vec<u8>> = parsed.access_units.into_iter().map(|au| au.data).collect();
        assert_eq!(
            data,
            vec![[long(SPS), long(PPS), IDR.to_vec()].concat(), long(P0)]
        );
    }

    #[test]
    fn garbage_is_counted_not_fatal() {
        let mut p = Parser::new(3000);
        let parsed = p.push(&[0x12, 0x34, 0x56], -1, -1);
        let tail = p.flush();
        assert_eq!(parsed.discarded + tail.discarded, 3);
        assert!(tail.access_units.is_empty());
    }
}
