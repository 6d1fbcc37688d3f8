//! Control events and notices: what travels between the host and a stage
//! beside the media (`wit/stage.wit`, `control` and `notice`).
//!
//! The host calls `control` on every stage of a session, in chain order,
//! between two inputs; the event takes effect from the next input on. A
//! stage answers through [`Notice`]s in the `notices` of an [`Output`]
//! (at most [`MAX_NOTICES`] per call), e.g. a decoder that lost its
//! references asks for a keyframe, once per gap.
//!
//! Most stages have no use for control events. The generated
//! `StageProcessor` trait cannot give `control` a default body, so such a
//! stage writes it as one line:
//!
//! ```ignore
//! fn control(&self, event: Control) -> Result<(), StageError> {
//!     framechain_stage::control::ignore(event)
//! }
//! ```

pub use crate::{Control, Notice};
use crate::{Output, StageError};

/// Notices one `push` or `flush` may hand back; the host refuses more.
pub const MAX_NOTICES: usize = 64;

/// The `control` of a stage that has no use for the event: accepts it and
/// does nothing. Ignoring an event is never an error.
pub fn ignore(event: Control) -> Result<(), StageError> {
    let _ = event;
    Ok(())
}

/// Adds `notice` to `output` unless it already holds [`MAX_NOTICES`];
/// returns whether it was added.
pub fn notify(output: &mut Output, notice: Notice) -> bool {
    if output.notices.len() >= MAX_NOTICES {
        return false;
    }
    output.notices.push(notice);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::empty_output;

    #[test]
    fn ignoring_is_not_an_error() {
        assert_eq!(ignore(Control::RequestKeyframe), Ok(()));
        assert_eq!(ignore(Control::TargetBitrate(500_000)), Ok(()));
    }

    #[test]
    fn notices_are_capped() {
        let mut output = empty_output();
        for _ in 0..MAX_NOTICES {
            assert!(notify(&mut output, Notice::KeyframeNeeded));
        }
        assert!(!notify(&mut output, Notice::KeyframeNeeded));
        assert_eq!(output.notices.len(), MAX_NOTICES);
    }
}
