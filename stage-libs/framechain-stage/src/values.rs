//! Readers for the text of each parameter kind. Each returns the value or a
//! description of the problem; [`crate::params`] prefixes it with the stage
//! and parameter name.

use std::ops::RangeInclusive;

use crate::Rect;
use crate::color::{Rgb, YCbCr};

pub(crate) fn integer(text: &str, range: &RangeInclusive<i64>) -> Result<i64, String> {
    let value: i64 = text
        .trim()
        .parse()
        .map_err(|_| format!("expected a whole number, got \"{text}\""))?;
    if !range.contains(&value) {
        return Err(format!(
            "must be between {} and {}, got {value}",
            range.start(),
            range.end()
        ));
    }
    Ok(value)
}

pub(crate) fn number(text: &str, range: &RangeInclusive<f64>) -> Result<f64, String> {
    let value: f64 = text
        .trim()
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| format!("expected a number, got \"{text}\""))?;
    if !range.contains(&value) {
        return Err(format!(
            "must be between {} and {}, got {value}",
            range.start(),
            range.end()
        ));
    }
    Ok(value)
}

pub(crate) fn flag(text: &str) -> Result<bool, String> {
    match text.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("expected true or false, got \"{text}\"")),
    }
}

pub(crate) fn choice<'a>(text: &'a str, choices: &[String]) -> Result<&'a str, String> {
    let text = text.trim();
    if choices.iter().any(|c| c == text) {
        Ok(text)
    } else {
        Err(format!(
            "expected one of {}, got \"{text}\"",
            choices.join(", ")
        ))
    }
}

pub(crate) fn rect(text: &str) -> Result<Rect, String> {
    let expected = || format!("expected x,y,width,height (four whole numbers), got \"{text}\"");
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    let [x, y, width, height] = parts.as_slice() else {
        return Err(expected());
    };
    let number = |part: &str| part.parse::<u32>().map_err(|_| expected());
    let rect = Rect {
        x: number(x)?,
        y: number(y)?,
        width: number(width)?,
        height: number(height)?,
    };
    if rect.width == 0 || rect.height == 0 {
        return Err(format!(
            "width and height must be at least 1, got \"{text}\""
        ));
    }
    if rect.x.checked_add(rect.width).is_none() || rect.y.checked_add(rect.height).is_none() {
        return Err(format!("reaches past {}, got \"{text}\"", u32::MAX));
    }
    Ok(rect)
}

/// Rectangles separated by `;`. Empty items (a trailing `;`, or an empty
/// value) are ignored, so an empty text is an empty list.
pub(crate) fn rect_list(text: &str) -> Result<Vec<Rect>, String> {
    text.split(';')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .enumerate()
        .map(|(index, item)| {
            rect(item).map_err(|problem| format!("rectangle {}: {problem}", index + 1))
        })
        .collect()
}

pub(crate) fn color(text: &str) -> Result<YCbCr, String> {
    Rgb::parse(text).map(Rgb::to_ycbcr)
}

/// Bits per second: a number with an optional `k` (1000) or `M` (1000000)
/// suffix, e.g. `800000`, `2000k`, `2M`, `1.5M`. The result is rounded to
/// whole bits per second and must be at least 1.
pub(crate) fn bitrate(text: &str) -> Result<u64, String> {
    let expected =
        || format!("expected bits per second such as 800000, 2000k or 2M, got \"{text}\"");
    let trimmed = text.trim();
    let (digits, multiplier) = match trimmed.char_indices().last() {
        Some((at, 'k' | 'K')) => (&trimmed[..at], 1e3),
        Some((at, 'm' | 'M')) => (&trimmed[..at], 1e6),
        _ => (trimmed, 1.0),
    };
    // Only plain decimal digits with an optional fraction: no sign, no
    // exponent, no `inf`.
    let plain_decimal = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && digits.bytes().filter(|&b| b == b'.').count() <= 1
        && digits.bytes().any(|b| b.is_ascii_digit());
    if !plain_decimal {
        return Err(expected());
    }
    let value: f64 = digits.parse().map_err(|_| expected())?;
    let bits = (value * multiplier).round();
    // 1 Tbit/s is far beyond any video stream; the bound keeps the cast exact.
    if !(1.0..=1e12).contains(&bits) {
        return Err(format!(
            "must be between 1 and 1000000M bits per second, got \"{text}\""
        ));
    }
    Ok(bits as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_range_checked() {
        assert_eq!(integer(" 42 ", &(1..=100)), Ok(42));
        assert_eq!(
            integer("abc", &(1..=100)),
            Err("expected a whole number, got \"abc\"".to_owned())
        );
        assert_eq!(
            integer("0", &(1..=100)),
            Err("must be between 1 and 100, got 0".to_owned())
        );
        assert!(integer("1.5", &(1..=100)).is_err());
        assert!(integer("", &(1..=100)).is_err());
    }

    #[test]
    fn numbers_reject_non_finite_values() {
        assert_eq!(number("2.5", &(0.0..=10.0)), Ok(2.5));
        assert!(number("NaN", &(0.0..=10.0)).is_err());
        assert!(number("inf", &(f64::MIN..=f64::MAX)).is_err());
        assert!(
            number("11", &(0.0..=10.0))
                .unwrap_err()
                .contains("between 0 and 10")
        );
    }

    #[test]
    fn flags_are_true_or_false_only() {
        assert_eq!(flag("true"), Ok(true));
        assert_eq!(flag("false"), Ok(false));
        assert_eq!(
            flag("yes"),
            Err("expected true or false, got \"yes\"".to_owned())
        );
    }

    #[test]
    fn choices_list_the_accepted_values() {
        let choices = ["fill".to_owned(), "blur".to_owned()];
        assert_eq!(choice("blur", &choices), Ok("blur"));
        assert_eq!(
            choice("smear", &choices),
            Err("expected one of fill, blur, got \"smear\"".to_owned())
        );
    }

    #[test]
    fn rects_parse_with_spaces() {
        assert_eq!(
            rect("100, 100,400 ,200"),
            Ok(Rect {
                x: 100,
                y: 100,
                width: 400,
                height: 200
            })
        );
    }

    #[test]
    fn malformed_rects_say_what_was_expected() {
        for bad in ["1,2,3", "1,2,3,4,5", "a,2,3,4", "-1,2,3,4", "", "1;2;3;4"] {
            assert_eq!(
                rect(bad),
                Err(format!(
                    "expected x,y,width,height (four whole numbers), got \"{bad}\""
                )),
                "input {bad:?}"
            );
        }
        assert!(rect("1,2,0,4").unwrap_err().contains("at least 1"));
        assert!(
            rect("4294967295,0,2,2")
                .unwrap_err()
                .contains("reaches past")
        );
    }

    #[test]
    fn rect_lists_skip_empty_items_and_name_the_bad_one() {
        assert_eq!(rect_list(""), Ok(vec![]));
        assert_eq!(
            rect_list("0,0,2,2; 4,4,8,8;"),
            Ok(vec![
                Rect {
                    x: 0,
                    y: 0,
                    width: 2,
                    height: 2
                },
                Rect {
                    x: 4,
                    y: 4,
                    width: 8,
                    height: 8
                },
            ])
        );
        let problem = rect_list("0,0,2,2;4,4,8").unwrap_err();
        assert!(problem.starts_with("rectangle 2: expected"), "{problem}");
    }

    #[test]
    fn bitrates_take_k_and_m_suffixes() {
        assert_eq!(bitrate("800000"), Ok(800_000));
        assert_eq!(bitrate("2000k"), Ok(2_000_000));
        assert_eq!(bitrate("2M"), Ok(2_000_000));
        assert_eq!(bitrate("1.5M"), Ok(1_500_000));
        assert_eq!(bitrate(" 64K "), Ok(64_000));
    }

    #[test]
    fn bad_bitrates_are_rejected() {
        for bad in ["", "k", "-5", "2G", "1e6", "inf", "1.2.3M", "0", "0.0001k"] {
            assert!(bitrate(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(bitrate("fast").unwrap_err().contains("2000k"));
    }
}
