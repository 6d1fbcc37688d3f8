//! Reading the few header fields of an H.264 NAL unit that the stage needs
//! to find access-unit boundaries (H.264 7.3.1 and 7.3.3).

/// NAL unit types the stage looks at (Table 7-1).
pub mod types {
    /// A slice of a non-IDR picture.
    pub const SLICE: u8 = 1;
    /// Slice data partition A (Extended profile).
    pub const PARTITION_A: u8 = 2;
    /// A slice of an IDR picture.
    pub const IDR: u8 = 5;
    /// Supplemental enhancement information.
    pub const SEI: u8 = 6;
    /// Sequence parameter set.
    pub const SPS: u8 = 7;
    /// Picture parameter set.
    pub const PPS: u8 = 8;
    /// Access unit delimiter.
    pub const AUD: u8 = 9;
    /// End of sequence.
    pub const END_OF_SEQUENCE: u8 = 10;
    /// End of stream.
    pub const END_OF_STREAM: u8 = 11;
}

/// The bytes after the start code (`00 00 01` or `00 00 00 01`).
pub fn payload(nal: &[u8]) -> &[u8] {
    let zeros = nal.iter().take_while(|b| **b == 0).count();
    if zeros >= 2 && nal.get(zeros) == Some(&1) {
        &nal[zeros + 1..]
    } else {
        nal
    }
}

/// `nal_unit_type`, or `None` for an empty unit or one whose
/// forbidden_zero_bit is set (damaged).
pub fn nal_type(nal: &[u8]) -> Option<u8> {
    let header = *payload(nal).first()?;
    (header & 0x80 == 0).then_some(header & 0x1f)
}

/// True for units carrying slice data of the primary picture.
pub fn is_vcl(nal_type: u8) -> bool {
    (types::SLICE..=types::IDR).contains(&nal_type)
}

/// `first_mb_in_slice` of a slice (types 1, 2, 5), the first field of the
/// slice header. `None` when the unit is too short or damaged.
pub fn first_mb_in_slice(nal: &[u8]) -> Option<u32> {
    let payload = payload(nal);
    // The field is one Exp-Golomb code of at most 32 bits + 1: 9 bytes of
    // RBSP are plenty. Remove emulation-prevention bytes (00 00 03).
    let mut rbsp = Vec::with_capacity(9);
    let mut zeros = 0;
    for &b in payload.get(1..)?.iter() {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        rbsp.push(b);
        if rbsp.len() == 9 {
            break;
        }
    }
    BitReader::new(&rbsp).read_ue()
}

/// MSB-first bit reader over RBSP bytes.
struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    fn bit(&mut self) -> Option<u32> {
        let byte = self.data.get(self.pos / 8)?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Some(u32::from(bit))
    }

    /// ue(v): leading zeros, a one, then that many bits.
    fn read_ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        let mut value: u64 = 0;
        for _ in 0..zeros {
            value = (value << 1) | u64::from(self.bit()?);
        }
        u32::try_from((1u64 << zeros) - 1 + value).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_skips_three_and_four_byte_start_codes() {
        assert_eq!(payload(&[0, 0, 1, 0x65, 0x88]), &[0x65, 0x88]);
        assert_eq!(payload(&[0, 0, 0, 1, 0x67]), &[0x67]);
        assert_eq!(payload(&[0x41, 0x9a]), &[0x41, 0x9a]);
    }

    #[test]
    fn nal_type_reads_the_header_and_rejects_the_forbidden_bit() {
        assert_eq!(nal_type(&[0, 0, 0, 1, 0x67, 0x42]), Some(types::SPS));
        assert_eq!(nal_type(&[0, 0, 1, 0x65]), Some(types::IDR));
        assert_eq!(nal_type(&[0, 0, 1, 0xe5]), None);
        assert_eq!(nal_type(&[0, 0, 1]), None);
    }

    #[test]
    fn first_mb_in_slice_decodes_exp_golomb() {
        // "1" -> 0
        assert_eq!(first_mb_in_slice(&[0, 0, 1, 0x65, 0b1000_0000]), Some(0));
        // "010" -> 1, "011" -> 2, "00101" -> 4
        assert_eq!(first_mb_in_slice(&[0, 0, 1, 0x41, 0b0100_0000]), Some(1));
        assert_eq!(first_mb_in_slice(&[0, 0, 1, 0x41, 0b0110_0000]), Some(2));
        assert_eq!(first_mb_in_slice(&[0, 0, 1, 0x41, 0b0010_1000]), Some(4));
        // 396: 8 zeros, 1, then 1000_1101 (2^8 - 1 + 141)
        assert_eq!(
            first_mb_in_slice(&[0, 0, 1, 0x41, 0x00, 0b1100_0110, 0b1000_0000]),
            Some(396)
        );
        // Truncated or all zeros: no value.
        assert_eq!(first_mb_in_slice(&[0, 0, 1, 0x41]), None);
        assert_eq!(
            first_mb_in_slice(&[0, 0, 1, 0x41, 0, 0, 3, 0, 0, 3, 0]),
            None
        );
    }

    #[test]
    fn emulation_prevention_bytes_are_skipped() {
        // 00 00 03 01 in the NAL is RBSP 00 00 01: 23 zero bits then "1" then
        // 23 more bits. Value = 2^23 - 1 + rest; here rest reads as 0.
        let nal = [
            0, 0, 1, 0x41, 0x00, 0x00, 0x03, 0x01, 0x00, 0x00, 0x03, 0x00, 0x00,
        ];
        assert_eq!(first_mb_in_slice(&nal), Some((1 << 23) - 1));
    }
}
