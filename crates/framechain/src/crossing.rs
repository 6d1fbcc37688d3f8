//! What crosses from a stage to the host at each call, bounded.
//!
//! wasmtime copies every string and list a stage passes to the host or
//! returns from a call. The elements of a `list<string>` are (pointer,
//! length) pairs the stage writes itself, so a million of them can point
//! at the same 100 MB. wasmtime meters such copies with its "hostcall
//! fuel"; the host sets it to the stage's memory limit (at most wasmtime's
//! 128 MiB default), so one crossing can make the host copy no more than
//! the stage could hold itself, and past it the call fails
//! ([`HOSTCALL_FUEL_EXHAUSTED`]). A call's output is then checked against
//! per-call caps ([`check_output`]). The imports whose arguments carry many
//! strings or one long one are read lazily ([`crate::imports`]).

use crate::bindings::types::Output;

/// wasmtime's most hostcall fuel per crossing (its default).
const WASMTIME_HOSTCALL_FUEL: usize = 128 << 20;

/// Text of wasmtime's error when a crossing runs out of hostcall fuel.
pub(crate) const HOSTCALL_FUEL_EXHAUSTED: &str = "fuel allocated for hostcalls has been exhausted";

/// Hostcall fuel for a stage whose memory limit is `memory_limit`.
pub(crate) fn hostcall_fuel(memory_limit: usize) -> usize {
    memory_limit.min(WASMTIME_HOSTCALL_FUEL)
}

/// Media one call may give out.
pub const MAX_MEDIA_PER_CALL: usize = 4_096;
/// Drops one call may report.
pub const MAX_DROPS_PER_CALL: usize = 65_536;
/// Most notices (`keyframe-needed`) one call may give.
pub const MAX_NOTICES_PER_CALL: usize = 64;

/// Checks the counts of a call's output, so that neither a session's
/// depth-first queue nor its accounting can be flooded from one call.
pub(crate) fn check_output(output: &Output) -> Result<(), String> {
    let (media, drops) = (output.media.len(), output.dropped.len());
    if media > MAX_MEDIA_PER_CALL {
        return Err(format!(
            "one call gave out {media} items (at most {MAX_MEDIA_PER_CALL})"
        ));
    }
    if drops > MAX_DROPS_PER_CALL {
        return Err(format!(
            "one call reported {drops} drops (at most {MAX_DROPS_PER_CALL})"
        ));
    }
    let notices = output.notices.len();
    if notices > MAX_NOTICES_PER_CALL {
        return Err(format!(
            "one call gave {notices} notices (at most {MAX_NOTICES_PER_CALL})"
        ));
    }
    Ok(())
}
