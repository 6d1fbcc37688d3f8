//! `frame.set-regions` and `log`, read lazily: the generated bindings
//! would copy a stage's whole region list or log line before the host
//! could look at it. A region list is counted and each label measured
//! before anything is copied; a log line is cut before it is copied. (What
//! one crossing may copy at all is bounded by hostcall fuel, see
//! [`crate::crossing`].)

use wasmtime::StoreContextMut;
use wasmtime::component::{ComponentType, Lift, Linker, Resource, WasmList, WasmStr};

use crate::bindings::LogLevel;
use crate::bindings::types::{HostFrame, Rect, Region};
use crate::frame::Frame;
use crate::limits::{MAX_LABEL_BYTES, MAX_REGIONS_PER_FRAME};
use crate::stage_state::StageState;
use crate::text;

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
