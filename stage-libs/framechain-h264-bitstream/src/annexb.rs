//! Splits an Annex-B byte stream that arrives in pieces of any size into NAL
//! units.
//!
//! A NAL unit starts at a start code (`00 00 01`, often with one more zero
//! in front) and ends where the next one starts, so a unit is only known to
//! be complete when the next start code (or the end of the stream, or of an
//! aligned packet) arrives. Start codes may be split across packets.
//!
//! Each unit remembers the packet its start code arrived in, so that packet
//! time stamps can be attached to the access units they begin (the MPEG
//! rule: a packet's pts belongs to the first access unit that starts in it).

/// One complete NAL unit, starting with its `00 00 01` start code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NalUnit {
    /// The unit's bytes, start code included.
    pub data: Vec<u8>,
    /// Sequence number of the packet the unit started in (from 0).
    pub packet: u64,
    /// That packet's pts (negative: none).
    pub pts: i64,
}

/// What one call produced.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Split {
    /// The units completed by this call, in stream order.
    pub units: Vec<NalUnit>,
    /// Bytes thrown away: non-zero data outside NAL units (Annex B allows
    /// zero bytes between units), or a unit that grew past the size limit.
    pub discarded: usize,
    /// Units thrown away for being too large (counted in `discarded` too).
    pub oversized: Vec<(u64, i64)>,
}

/// Cuts an Annex-B byte stream, fed in pieces of any size, into NAL
/// units, bounding the size of one unit.
pub struct Splitter {
    /// Unscanned and incomplete data; from `start` on, the current unit.
    buf: Vec<u8>,
    /// Offset in `buf` of the current unit's start code, if inside one.
    start: Option<usize>,
    /// Next offset in `buf` to test for the `01` of a start code.
    scan: usize,
    /// Packet and pts of the current unit.
    unit_packet: u64,
    unit_pts: i64,
    /// Number of packets pushed so far.
    packets: u64,
    max_unit: usize,
}

impl Splitter {
    /// `max_unit` bounds the memory one (damaged or hostile) unit may take.
    pub fn new(max_unit: usize) -> Self {
        Self {
            buf: Vec::new(),
            start: None,
            scan: 0,
            unit_packet: 0,
            unit_pts: -1,
            packets: 0,
            max_unit,
        }
    }

    /// Takes the next piece of the stream; returns the units it completed.
    pub fn push(&mut self, data: &[u8], pts: i64) -> Split {
        let packet = self.packets;
        self.packets += 1;
        let mut split = Split::default();
        self.buf.extend_from_slice(data);
        let mut i = self.scan.max(2);
        while i < self.buf.len() {
            // Find the next 01 byte, then look back for two zeros.
            match self.buf[i..].iter().position(|b| *b == 1) {
                None => {
                    i = self.buf.len();
                    break;
                }
                Some(off) => i += off,
            }
            if self.buf[i - 1] == 0 && self.buf[i - 2] == 0 {
                let code = i - 2;
                self.end_unit_at(code, &mut split);
                self.start = Some(code);
                self.unit_packet = packet;
                self.unit_pts = pts;
            }
            i += 1;
        }
        self.scan = i;
        self.enforce_limit(&mut split);
        self.compact();
        split
    }

    /// The bytes of the unit still being gathered (start code first), if
    /// any: enough, often, to read its header before it is complete.
    pub fn pending(&self) -> Option<&[u8]> {
        self.start.map(|start| &self.buf[start..])
    }

    /// End of the stream (or of an aligned packet): the current unit is
    /// complete. Returns it, if any.
    pub fn finish(&mut self) -> Split {
        let mut split = Split::default();
        let end = self.buf.len();
        self.end_unit_at(end, &mut split);
        self.buf.clear();
        self.start = None;
        self.scan = 0;
        split
    }

    /// Closes the current unit at `end` (or discards leading garbage).
    fn end_unit_at(&mut self, end: usize, split: &mut Split) {
        match self.start {
            Some(start) => {
                let unit = &self.buf[start..end];
                // Zeros before the next start code are trailing_zero_8bits or
                // the first byte of a 4-byte start code: not part of the unit.
                // A real unit never ends in 00 (its last byte holds the RBSP
                // stop bit or is cabac_zero_word's 03).
                let len = unit.len() - unit.iter().rev().take_while(|b| **b == 0).count();
                // A unit is a start code plus at least its header byte. The
                // limit holds whether the unit arrived whole in one piece
                // or grew over several (`enforce_limit`).
                if len > self.max_unit {
                    split.discarded += len;
                    split.oversized.push((self.unit_packet, self.unit_pts));
                } else if len > 3 {
                    split.units.push(NalUnit {
                        data: unit[..len].to_vec(),
                        packet: self.unit_packet,
                        pts: self.unit_pts,
                    });
                }
            }
            None => split.discarded += nonzero(&self.buf[..end]),
        }
    }

    /// Drops the current unit if it has grown past the limit, and skips to
    /// the next start code.
    fn enforce_limit(&mut self, split: &mut Split) {
        let Some(start) = self.start else {
            // Garbage before any start code: keep only the last two bytes,
            // which may be the beginning of one.
            let keep = self.buf.len().min(2);
            let drop = self.buf.len() - keep;
            split.discarded += nonzero(&self.buf[..drop]);
            self.buf.drain(..drop);
            self.scan = self.scan.saturating_sub(drop);
            return;
        };
        if self.buf.len() - start > self.max_unit {
            split.oversized.push((self.unit_packet, self.unit_pts));
            self.start = None;
            let keep = 2.min(self.buf.len());
            let drop = self.buf.len() - keep;
            // The bytes kept are counted when they turn out to be garbage
            // (not a start code), as after any other garbage.
            split.discarded += drop.saturating_sub(start);
            self.buf.drain(..drop);
            self.scan = self.scan.saturating_sub(drop);
        }
    }

    /// Forgets bytes before the current unit so the buffer does not grow.
    fn compact(&mut self) {
        if let Some(start) = self.start
            && start > 0
        {
            self.buf.drain(..start);
            self.scan -= start;
            self.start = Some(0);
        }
    }
}

/// Zero bytes between units are padding Annex B allows; the rest is garbage.
fn nonzero(bytes: &[u8]) -> usize {
    bytes.iter().filter(|b| **b != 0).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &[u8] = &[0, 0, 0, 1, 0x67, 0x42, 0x00, 0x1e];
    const B: &[u8] = &[0, 0, 1, 0x68, 0xce, 0x38, 0x80];
    const C: &[u8] = &[0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x03, 0x01];

    fn stream() -> Vec<u8> {
        [A, B, C].concat()
    }

    fn whole(pieces: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut s = Splitter::new(1 << 20);
        let mut out = Vec::new();
        for p in pieces {
            out.extend(s.push(p, -1).units.into_iter().map(|u| u.data));
        }
        out.extend(s.finish().units.into_iter().map(|u| u.data));
        out
    }

    /// Units as they come out: a 4-byte start code's extra zero counts as
    /// padding, so every unit starts with 00 00 01.
    fn expected() -> Vec<Vec<u8>> {
        vec![A[1..].to_vec(), B.to_vec(), C[1..].to_vec()]
    }

    #[test]
    fn one_piece() {
        assert_eq!(whole(&[&stream()]), expected());
    }

    #[test]
    fn every_split_point_gives_the_same_units() {
        let s = stream();
        for cut in 0..=s.len() {
            assert_eq!(whole(&[&s[..cut], &s[cut..]]), expected(), "cut at {cut}");
        }
        for a in 0..=s.len() {
            for b in a..=s.len() {
                assert_eq!(
                    whole(&[&s[..a], &s[a..b], &s[b..]]),
                    expected(),
                    "cuts at {a}, {b}"
                );
            }
        }
    }

    #[test]
    fn byte_by_byte() {
        let s = stream();
        let pieces: Vec<&[u8]> = s.chunks(1).collect();
        assert_eq!(whole(&pieces), expected());
    }

    #[test]
    fn leading_garbage_is_discarded_and_counted() {
        let mut s = Splitter::new(1 << 20);
        let mut data = vec![0x12, 0x34, 0x00, 0x56];
        data.extend_from_slice(A);
        let split = s.push(&data, -1);
        assert!(split.units.is_empty());
        assert_eq!(split.discarded, 3); // zero bytes are allowed padding
        assert_eq!(s.finish().units[0].data, A[1..].to_vec());
    }

    #[test]
    fn garbage_without_start_codes_does_not_accumulate() {
        let mut s = Splitter::new(1 << 20);
        let junk = vec![0xffu8; 100_000];
        let mut discarded = 0;
        for _ in 0..10 {
            discarded += s.push(&junk, -1).discarded;
        }
        assert!(s.buf.len() <= 2);
        assert_eq!(discarded + s.finish().discarded, 1_000_000);
    }

    #[test]
    fn units_over_the_limit_are_dropped_and_reported() {
        let mut s = Splitter::new(16);
        let mut big = vec![0, 0, 1, 0x65];
        big.extend(std::iter::repeat_n(0xaa, 40));
        let split = s.push(&big, 7);
        assert_eq!(split.oversized, vec![(0, 7)]);
        assert!(split.units.is_empty());
        // The stream recovers at the next start code.
        let split = s.push(B, 8);
        assert!(split.units.is_empty());
        let tail = s.finish();
        assert_eq!(tail.units.len(), 1);
        assert_eq!(tail.units[0].data, B.to_vec());
        assert_eq!(tail.units[0].pts, 8);
    }

    #[test]
    fn units_over_the_limit_are_dropped_even_when_they_arrive_whole() {
        // Found by the parse_h264 fuzz target: a unit that began and ended
        // inside one piece was never held against the limit.
        let mut big = vec![0, 0, 1, 0x65];
        big.extend(std::iter::repeat_n(0xaa, 40));
        for tail in [&[][..], B] {
            let mut s = Splitter::new(16);
            let mut split = s.push(&[A, &big, B, &big, tail].concat(), 7);
            let end = s.finish();
            split.units.extend(end.units);
            split.oversized.extend(end.oversized);
            split.discarded += end.discarded;
            let units: Vec<Vec<u8>> = split.units.into_iter().map(|u| u.data).collect();
            let mut expected = vec![A[1..].to_vec(), B.to_vec()];
            if !tail.is_empty() {
                expected.push(B.to_vec());
            }
            assert_eq!(units, expected);
            assert_eq!(split.oversized, vec![(0, 7), (0, 7)]);
            assert_eq!(split.discarded, 2 * big.len());
        }
    }

    #[test]
    fn units_carry_the_packet_their_start_code_arrived_in() {
        let mut s = Splitter::new(1 << 20);
        let s1 = [A, &B[..2]].concat(); // B's start code is split
        let mut units = s.push(&s1, 100).units;
        units.extend(s.push(&B[2..], 200).units);
        units.extend(s.push(C, 300).units);
        units.extend(s.finish().units);
        let tags: Vec<(u64, i64)> = units.iter().map(|u| (u.packet, u.pts)).collect();
        assert_eq!(tags, vec![(0, 100), (1, 200), (2, 300)]);
    }

    #[test]
    fn zero_padding_is_not_garbage() {
        let mut s = Splitter::new(1 << 20);
        assert_eq!(s.push(&[0, 0, 0], -1).discarded, 0);
        assert_eq!(s.push(&[0, 1, 0x65, 0x88, 0, 0], -1).discarded, 0);
        let tail = s.finish();
        assert_eq!(
            (tail.discarded, tail.units[0].data.clone()),
            (0, vec![0, 0, 1, 0x65, 0x88])
        );
    }

    #[test]
    fn the_pending_unit_can_be_read_before_it_is_complete() {
        let mut s = Splitter::new(1 << 20);
        assert_eq!(s.pending(), None);
        s.push(&[A, &C[..6]].concat(), -1);
        assert_eq!(s.pending(), Some(&C[1..6]));
        s.finish();
        assert_eq!(s.pending(), None);
    }

    #[test]
    fn empty_units_are_skipped() {
        assert_eq!(whole(&[&[0, 0, 1, 0, 0, 1], B]), vec![B.to_vec()]);
    }
}
