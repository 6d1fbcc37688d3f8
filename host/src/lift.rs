//! Reading what a stage hands the host, bounded.
//!
//! wasmtime copies every string and list a stage passes to the host or
//! returns from a call. The elements of a `list<string>` are (pointer,
//! length) pairs the stage writes itself, so a million of them can point
//! at the same 100 MB. wasmtime meters such copies with its "hostcall
//! fuel"; the host sets it to the stage's memory limit (at most wasmtime's
//! 128 MiB default), so one crossing can make the host copy no more than
//! the stage could hold itself, and past it the call fails
//! ([`HOSTCALL_FUEL_EXHAUSTED`]). On top of that, the imports whose
//! arguments carry many strings or one long one (`frame.set-regions`,
//! `log`) read them lazily here: a region list is counted and each label
//! measured before anything is copied, a log line is cut before it is.

use wasmtime::StoreContextMut;
use wasmtime::component::{ComponentType, Lift, Linker, Resource, WasmList, WasmStr};

use crate::bindings::LogLevel;
use crate::bindings::types::{HostFrame, Output, Rect, Region};
use crate::frame::Frame;
use crate::limits::{MAX_LABEL_BYTES, MAX_REGIONS_PER_FRAME};
use crate::stage_state::StageState;
use crate::text;

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

/// A `region` passed into `set-regions`, its label not yet copied.
#[derive(ComponentType, Lift)]
#[component(record)]
pub(crate) struct LazyRegion {
    label: WasmStr,
    area: Rect,
}

/// Replaces the generated `frame.set-regions` and `log` imports in
/// `linker` (which must already hold them) with ones that read their
/// arguments lazily: a region list is counted and each label measured
/// before anything is copied; a log line is cut before it is copied.
pub(crate) fn bound_stage_imports(linker: &mut Linker<StageState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut types = linker.instance("framechain:stage/types@0.2.0")?;
    types.func_wrap(
        "[method]frame.set-regions",
        |mut store: StoreContextMut<'_, StageState>,
         (frame, regions): (Resource<Frame>, WasmList<LazyRegion>)| {
            let count = regions.len();
            if count > MAX_REGIONS_PER_FRAME {
                return Err(store.data_mut().break_limit(format!(
                    "a frame may carry at most {MAX_REGIONS_PER_FRAME} regions, the stage gave it {count}"
                )));
            }
            let mut list = Vec::with_capacity(count);
            for index in 0..count {
                store.data_mut().check_deadline()?;
                let region = regions
                    .get(&mut store, index)
                    .ok_or_else(|| wasmtime::format_err!("region {index} is missing"))??;
                let label = region.label.to_str(&store)?;
                if label.len() > MAX_LABEL_BYTES {
                    let len = label.len();
                    return Err(store.data_mut().break_limit(format!(
                        "a region label may be at most {MAX_LABEL_BYTES} bytes, the stage gave one of {len}"
                    )));
                }
                list.push(Region {
                    label: label.into_owned(),
                    area: region.area,
                });
            }
            HostFrame::set_regions(store.data_mut(), frame, list)
        },
    )?;
    let mut log = linker.instance("framechain:stage/log@0.2.0")?;
    log.func_wrap(
        "log",
        |mut store: StoreContextMut<'_, StageState>, (level, message): (LogLevel, WasmStr)| {
            // Only the part that is kept is copied out of the stage.
            let kept: String = message
                .to_str(&store)?
                .chars()
                .take(text::MAX_MESSAGE_CHARS + 1)
                .collect();
            store.data_mut().log_line(level, &kept);
            Ok(())
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}
