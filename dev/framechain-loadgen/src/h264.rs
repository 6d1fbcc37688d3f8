//! Annex-B H.264 split into access units, for sending a file as if it were
//! a camera: one RTP timestamp per picture.

/// One picture's NAL units, each with its 4-byte start code.
pub type AccessUnit = Vec<u8>;

/// The NAL units of an Annex-B byte stream, without their start codes.
pub fn nal_units(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut units = Vec::with_capacity(starts.len());
    for (n, &start) in starts.iter().enumerate() {
        let mut end = starts.get(n + 1).map_or(data.len(), |next| next - 3);
        // A 4-byte start code's leading zero (and trailing_zero_8bits) belong to no unit.
        while end > start && data[end - 1] == 0 {
            end -= 1;
        }
        if end > start {
            units.push(&data[start..end]);
        }
    }
    units
}

/// The NAL unit type (the low five bits of the header byte).
pub fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |header| header & 0x1f)
}

fn is_slice(kind: u8) -> bool {
    matches!(kind, 1 | 5)
}

/// Splits an Annex-B stream into access units. A new access unit starts at
/// an access unit delimiter, at SPS/PPS/SEI after a slice, and at a slice
/// whose `first_mb_in_slice` is 0 after a slice (H.264 7.4.1.2.3, enough
/// for streams without redundant pictures or slice-data partitioning).
pub fn split_access_units(data: &[u8]) -> Vec<AccessUnit> {
    let mut units = Vec::new();
    let mut current: AccessUnit = Vec::new();
    let mut has_slice = false;
    for nal in nal_units(data) {
        let kind = nal_type(nal);
        // first_mb_in_slice is ue(v): its first bit is 1 exactly when it is 0.
        let first_mb_zero = nal.get(1).is_some_and(|byte| byte & 0x80 != 0);
        let starts_new =
            has_slice && (matches!(kind, 6..=9 | 14..=18) || (is_slice(kind) && first_mb_zero));
        if starts_new {
            units.push(std::mem::take(&mut current));
            has_slice = false;
        }
        current.extend_from_slice(&[0, 0, 0, 1]);
        current.extend_from_slice(nal);
        has_slice |= is_slice(kind);
    }
    if has_slice {
        units.push(current);
    }
    units
}

/// True when the access unit holds an IDR slice.
pub fn is_keyframe(unit: &[u8]) -> bool {
    nal_units(unit).iter().any(|nal| nal_type(nal) == 5)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nal(header: u8, first: u8) -> Vec<u8> {
        vec![0, 0, 0, 1, header, first, 0xaa]
    }

    #[test]
    fn splits_at_parameter_sets_and_first_slices() {
        let mut stream = Vec::new();
        for part in [
            nal(0x67, 0x42),
            nal(0x68, 0xce),
            nal(0x65, 0x88),
            nal(0x65, 0x20), // second slice of the IDR picture
            nal(0x41, 0x9a),
            nal(0x09, 0xf0),
            nal(0x41, 0x9a),
        ] {
            stream.extend(part);
        }
        let units = split_access_units(&stream);
        assert_eq!(units.len(), 3);
        assert_eq!(nal_units(&units[0]).len(), 4);
        assert!(is_keyframe(&units[0]));
        assert!(!is_keyframe(&units[1]));
        assert_eq!(nal_units(&units[2]).len(), 2, "AUD then its slice");
    }

    #[test]
    fn garbage_gives_no_units() {
        assert!(split_access_units(&[1, 2, 3, 0, 0]).is_empty());
        assert!(split_access_units(&[]).is_empty());
    }
}
