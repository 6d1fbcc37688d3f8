//! Colours as people write them (`black`, `#ff8000`) and as I420 frames
//! store them (one Y', Cb and Cr sample).
//!
//! Frames are 8-bit BT.601 "limited" (studio) range, what H.264 encoders and
//! decoders assume when a stream says nothing else: Y' spans 16..=235 and
//! Cb/Cr span 16..=240 around 128.

/// An sRGB colour, 8 bits per channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rgb {
    /// Red, 0..=255.
    pub red: u8,
    /// Green, 0..=255.
    pub green: u8,
    /// Blue, 0..=255.
    pub blue: u8,
}

/// One pixel's samples in an I420 frame: `y` for the Y plane, `u` (Cb) and
/// `v` (Cr) for the chroma planes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct YCbCr {
    /// Luma (Y'), 16..=235.
    pub y: u8,
    /// Blue-difference chroma (Cb), 16..=240 around 128.
    pub u: u8,
    /// Red-difference chroma (Cr), 16..=240 around 128.
    pub v: u8,
}

/// The colour names a `color` parameter accepts, besides `#rrggbb`.
pub const COLOR_NAMES: [(&str, Rgb); 4] = [
    ("black", Rgb::new(0, 0, 0)),
    ("white", Rgb::new(255, 255, 255)),
    ("gray", Rgb::new(128, 128, 128)),
    ("grey", Rgb::new(128, 128, 128)),
];

impl Rgb {
    /// The colour of these three channels.
    pub const fn new(red: u8, green: u8, blue: u8) -> Self {
        Rgb { red, green, blue }
    }

    /// Reads `black`, `white`, `gray` (or `grey`) or `#rrggbb`, ignoring case.
    /// The error says what was expected.
    pub fn parse(text: &str) -> Result<Rgb, String> {
        let text = text.trim();
        if let Some(hex) = text.strip_prefix('#') {
            return parse_hex(hex).ok_or_else(|| {
                format!("expected #rrggbb with six hexadecimal digits, got \"{text}\"")
            });
        }
        COLOR_NAMES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(text))
            .map(|&(_, rgb)| rgb)
            .ok_or_else(|| {
                format!("expected a colour (black, white, gray or #rrggbb), got \"{text}\"")
            })
    }

    /// The BT.601 limited-range Y'CbCr samples of this colour, rounded to the
    /// nearest integer.
    pub fn to_ycbcr(self) -> YCbCr {
        let (r, g, b) = (
            f64::from(self.red),
            f64::from(self.green),
            f64::from(self.blue),
        );
        // BT.601 luma weights (0.299, 0.587, 0.114) with the 219/255 and
        // 224/255 scale factors of limited range folded in.
        let y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0;
        let cb = 128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0;
        let cr = 128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0;
        YCbCr {
            y: to_sample(y),
            u: to_sample(cb),
            v: to_sample(cr),
        }
    }
}

fn parse_hex(hex: &str) -> Option<Rgb> {
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let channel = |at: usize| u8::from_str_radix(&hex[at..at + 2], 16).ok();
    Some(Rgb::new(channel(0)?, channel(2)?, channel(4)?))
}

fn to_sample(value: f64) -> u8 {
    // The formulas stay within 16..=240 for any 8-bit input; the clamp only
    // documents that the cast cannot wrap.
    value.round().clamp(0.0, 255.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ycbcr(text: &str) -> YCbCr {
        Rgb::parse(text).unwrap().to_ycbcr()
    }

    #[test]
    fn black_and_white_hit_the_ends_of_limited_range() {
        assert_eq!(
            ycbcr("black"),
            YCbCr {
                y: 16,
                u: 128,
                v: 128
            }
        );
        assert_eq!(
            ycbcr("white"),
            YCbCr {
                y: 235,
                u: 128,
                v: 128
            }
        );
        assert_eq!(ycbcr("#000000"), ycbcr("black"));
        assert_eq!(ycbcr("#FFFFFF"), ycbcr("White"));
    }

    #[test]
    fn gray_is_neutral_mid_luma() {
        assert_eq!(
            ycbcr("gray"),
            YCbCr {
                y: 126,
                u: 128,
                v: 128
            }
        );
        assert_eq!(ycbcr("grey"), ycbcr("#808080"));
    }

    #[test]
    fn primaries_match_bt601_tables() {
        // Reference values of BT.601 limited range for the 100% primaries.
        assert_eq!(
            ycbcr("#ff0000"),
            YCbCr {
                y: 81,
                u: 90,
                v: 240
            }
        );
        assert_eq!(
            ycbcr("#00ff00"),
            YCbCr {
                y: 145,
                u: 54,
                v: 34
            }
        );
        assert_eq!(
            ycbcr("#0000ff"),
            YCbCr {
                y: 41,
                u: 240,
                v: 110
            }
        );
    }

    #[test]
    fn malformed_colours_are_rejected_with_the_accepted_forms() {
        for bad in ["#12345", "#1234567", "#gg0000", "purple", "", "#"] {
            let message = Rgb::parse(bad).unwrap_err();
            assert!(
                message.contains("#rrggbb"),
                "{bad:?} gave message {message:?}"
            );
        }
    }
}
