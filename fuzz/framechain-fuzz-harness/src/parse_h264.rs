//! The `parse_h264` target: `parse-h264`'s splitting logic
//! ([`framechain_parse_h264::parser::Parser`], what the stage's `push` and
//! `flush` call), natively, on a stream cut into packets the fuzzer chooses.
//!
//! Input layout:
//!
//! | byte | meaning |
//! |---|---|
//! | 0 | bits 0-1: limits (0: the stage's own, 16 MiB; else small ones from bytes 1-2, so that drops happen); bits 2-3: packet time stamps (none; packet index × 1000; near `i64::MAX`; none on odd packets) |
//! | 1 | largest NAL unit when small: 4 + byte |
//! | 2 | largest access unit when small: 4 + 2 × byte |
//! | 3 | `n`, the number of packet sizes (`n % 16`) |
//! | 4.. | `n` packet sizes (0-255; 0 is an empty packet), used in turn, again and again |
//! | rest | the H.264 byte stream |
//!
//! What must hold, against an independent model of the stream (every
//! `00 00 01` starts a NAL unit, which ends where the next one starts, less
//! its trailing zero bytes; units that are only a start code are skipped;
//! units are grouped into access units by H.264 7.4.1.2.3 as
//! [`AuTracker`] implements it):
//!
//! - no panic (overflow checks are on);
//! - every access unit starts with `00 00 00 01`, and is at most the limit;
//! - no NAL unit in an output is over the NAL limit;
//! - `keyframe` is set exactly on access units with an IDR slice;
//! - with no drops reported, the outputs are exactly the model's access
//!   units, each written as `00` before its first NAL unit and before every
//!   SPS and PPS, the units as they are (whatever the cuts);
//! - with drops, the outputs' NAL units are the model's in order, some left
//!   out, never one twice or out of order; something is left out only if a
//!   drop was reported, and every access-unit drop left out at least one;
//! - without packet time stamps, pts are 0, d, 2d, … over outputs and
//!   access-unit drops, and dts equals pts.

use framechain_h264_bitstream::access_unit::AuTracker;
use framechain_h264_bitstream::nal::{self, types};
use framechain_parse_h264::parser::{MAX_AU_SIZE, MAX_NAL_SIZE, Parser};

/// Ticks between access units without a pts (30 fps).
const DURATION: i64 = 3000;

pub fn parse_h264(data: &[u8]) {
    let Some((&[flags, nal_byte, au_byte, count], rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let count = usize::from(count % 16).min(rest.len());
    let (sizes, stream) = rest.split_at(count);
    let (max_nal, max_au) = if flags & 3 == 0 {
        (MAX_NAL_SIZE, MAX_AU_SIZE)
    } else {
        (4 + usize::from(nal_byte), 4 + 2 * usize::from(au_byte))
    };
    let stamps = (flags >> 2) & 3;

    // Run the parser over the packets.
    let mut parser = Parser::with_limits(DURATION, max_nal, max_au);
    let mut outputs = Vec::new();
    let mut dropped = Vec::new();
    let mut take = |parsed: framechain_parse_h264::parser::Parsed| {
        outputs.extend(parsed.access_units);
        dropped.extend(parsed.dropped);
    };
    let mut packets = 0usize;
    let mut at = 0;
    while at < stream.len() {
        let mut progress = false;
        for &size in sizes {
            let end = (at + usize::from(size)).min(stream.len());
            take(push(&mut parser, &stream[at..end], packets, stamps));
            packets += 1;
            progress |= end > at;
            at = end;
            if at == stream.len() {
                break;
            }
        }
        if !progress {
            take(push(&mut parser, &stream[at..], packets, stamps));
            packets += 1;
            at = stream.len();
        }
    }
    take(parser.flush());

    // The model.
    let units = model_units(stream);
    let groups = model_groups(&units);

    let mut output_units: Vec<&[u8]> = Vec::new();
    for au in &outputs {
        assert!(
            au.data.starts_with(&[0, 0, 0, 1]),
            "an access unit without a four-byte start code"
        );
        assert!(
            au.data.len() <= max_au,
            "an access unit of {} bytes",
            au.data.len()
        );
        let mine = split_access_unit(&au.data);
        assert_eq!(encode(&mine), au.data, "start codes of an access unit");
        for unit in &mine {
            assert!(unit.len() <= max_nal, "a NAL unit of {} bytes", unit.len());
        }
        let idr = mine.iter().any(|u| nal::nal_type(u) == Some(types::IDR));
        assert_eq!(au.keyframe, idr, "keyframe flag");
        output_units.extend(mine);
    }
    for drop in &dropped {
        assert!(!drop.reason.is_empty() && !drop.reason.contains('\n'));
    }

    if dropped.is_empty() {
        let expected: Vec<Vec<u8>> = groups.iter().map(|g| encode(g)).collect();
        let got: Vec<&Vec<u8>> = outputs.iter().map(|au| &au.data).collect();
        assert_eq!(
            got,
            expected.iter().collect::<Vec<_>>(),
            "access units differ from the model ({packets} packets)"
        );
    } else {
        // An ordered subsequence of the model's units.
        let mut model = units.iter();
        let mut missing = 0usize;
        for unit in &output_units {
            loop {
                match model.next() {
                    Some(m) if m == unit => break,
                    Some(_) => missing += 1,
                    None => panic!("an output NAL unit that is not next in the input"),
                }
            }
        }
        missing += model.count();
        let au_drops = dropped
            .iter()
            .filter(|d| d.reason.starts_with("access unit"))
            .count();
        assert!(
            au_drops <= missing,
            "{au_drops} access units dropped, {missing} NAL units missing"
        );
    }
    if stamps == 0 {
        // Nothing but numbering: access units (dropped ones too) count on.
        let mut pts: Vec<i64> = outputs.iter().map(|au| au.pts).collect();
        pts.extend(
            dropped
                .iter()
                .filter(|d| d.reason.starts_with("access unit"))
                .map(|d| d.pts),
        );
        pts.sort_unstable();
        for (k, p) in pts.iter().enumerate() {
            assert_eq!(*p, k as i64 * DURATION, "pts numbering");
        }
        for au in &outputs {
            assert_eq!(au.dts, au.pts);
        }
    }
}

fn push(
    parser: &mut Parser,
    data: &[u8],
    index: usize,
    stamps: u8,
) -> framechain_parse_h264::parser::Parsed {
    let index = index as i64;
    let (pts, dts) = match stamps {
        0 => (-1, -1),
        1 => (index * 1000, index * 1000 - 500),
        2 => (i64::MAX - index, i64::MAX - index - 1),
        _ => {
            if index % 2 == 1 {
                (-1, -1)
            } else {
                (index * 1000, -1)
            }
        }
    };
    parser.push(data, pts, dts)
}

/// NAL units of the whole stream, each from its `00 00 01`.
fn model_units(stream: &[u8]) -> Vec<&[u8]> {
    let starts: Vec<usize> = stream
        .windows(3)
        .enumerate()
        .filter(|(_, w)| *w == [0, 0, 1])
        .map(|(i, _)| i)
        .collect();
    let mut units = Vec::new();
    for (k, &start) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(stream.len());
        let mut unit = &stream[start..end];
        while let Some((&0, head)) = unit.split_last() {
            unit = head;
        }
        if unit.len() > 3 {
            units.push(unit);
        }
    }
    units
}

fn model_groups<'a>(units: &[&'a [u8]]) -> Vec<Vec<&'a [u8]>> {
    let mut tracker = AuTracker::new();
    let mut groups: Vec<Vec<&[u8]>> = Vec::new();
    for unit in units {
        let place = tracker.place(unit);
        match groups.last_mut() {
            Some(group) if !place.starts_au => group.push(unit),
            _ => groups.push(vec![unit]),
        }
    }
    groups
}

/// An access unit as the stage writes it.
fn encode(group: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, unit) in group.iter().enumerate() {
        if k == 0 || matches!(nal::nal_type(unit), Some(types::SPS | types::PPS)) {
            out.push(0);
        }
        out.extend_from_slice(unit);
    }
    out
}

/// An output access unit's NAL units, each from its `00 00 01` (a unit
/// never holds `00 00 01` nor ends in `00`, so a zero before a start code
/// is the long start code's).
fn split_access_unit(au: &[u8]) -> Vec<&[u8]> {
    // model_units strips trailing zeros: those are the next unit's `00`.
    model_units(au)
}
