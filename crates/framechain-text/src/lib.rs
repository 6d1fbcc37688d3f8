//! Text that came from outside the host (a stage's log lines, error
//! messages and names; values from an input or a pipeline file) made safe to
//! show a person: one line, no terminal control, bounded length.
//!
//! A stage is untrusted code. Without this it could send escape codes to the
//! operator's terminal, forge a `framechain: error:` line with a newline, or
//! fill a node's log with one huge message.

/// Longest stage-provided message kept in an error or a log line.
pub const MAX_MESSAGE_CHARS: usize = 300;
/// Longest stage-provided name (stage name, drop reason, label) kept.
pub const MAX_NAME_CHARS: usize = 80;

/// `text` as one printable line of at most `max_chars` characters (plus a
/// marker saying how much was cut): control characters (newlines, escape,
/// DEL, C1 controls) and the Unicode bidirectional overrides, which can make
/// a terminal show text in a different order than it is, are written as
/// `\u{..}` escapes instead of being passed through.
pub fn untrusted(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars * 2));
    // Characters of `out`: escapes count as what they print, so the cap
    // holds for the shown text whatever the input is made of.
    let mut shown = 0usize;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        let piece = if needs_escape(c) {
            match c {
                '\n' => "\\n".to_owned(),
                '\r' => "\\r".to_owned(),
                '\t' => "\\t".to_owned(),
                _ => format!("\\u{{{:x}}}", c as u32),
            }
        } else {
            c.to_string()
        };
        let width = piece.chars().count();
        if shown + width > max_chars {
            let rest = 1 + chars.count();
            out.push_str(&format!("…(+{rest} chars)"));
            return out;
        }
        shown += width;
        out.push_str(&piece);
    }
    out
}

/// `bytes` (which should be UTF-8 text but may not be) as [`untrusted`]
/// text; invalid sequences become U+FFFD.
pub fn untrusted_bytes(bytes: &[u8], max_chars: usize) -> String {
    untrusted(&String::from_utf8_lossy(bytes), max_chars)
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_not_sent() {
        let forged = "ok\nframechain: error: forged\x1b[2J\u{202e}txt";
        let shown = untrusted(forged, 200);
        assert_eq!(
            shown,
            "ok\\nframechain: error: forged\\u{1b}[2J\\u{202e}txt"
        );
        assert!(!shown.chars().any(char::is_control));
    }

    #[test]
    fn long_text_is_cut_with_a_count() {
        let shown = untrusted(&"é".repeat(1000), 10);
        assert_eq!(shown, format!("{}…(+990 chars)", "é".repeat(10)));
        assert_eq!(untrusted("short", 5), "short");
    }
}
