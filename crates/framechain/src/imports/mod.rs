//! The host side of everything a stage imports, linked once per engine:
//! WASI (clocks and randomness; no files, sockets or environment), the
//! `frame` resource, `log`, and `native-h264`, each implemented for the
//! instance's [`StageState`]. A few generated functions are replaced by
//! bounded ones: WASI waits end by the call's time limit ([`waits`]), and
//! `set-regions` and `log` read their arguments lazily ([`lazy`]).

mod frame;
mod lazy;
mod log;
mod native_h264;
mod waits;

use wasmtime::component::{HasSelf, Linker};

use crate::stage_state::StageState;

/// Adds every import a stage may use to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<StageState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    // WASI waits (sleeps, polls) end by the call's time limit too.
    waits::bound_waits_by_deadline(linker)?;
    crate::bindings::StageComponent::add_to_linker::<_, HasSelf<StageState>>(linker, |state| {
        state
    })?;
    // Stage arguments that could make the host copy without bound are
    // read lazily.
    lazy::bound_stage_imports(linker)
}
