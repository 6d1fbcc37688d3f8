//! WASI calls that wait (`wasi:io/poll`'s `poll` and `pollable.block`),
//! made to end by the stage call's deadline.
//!
//! wasmtime's epoch interruption stops a call only while wasm code runs. A
//! stage that sleeps (`std::thread::sleep` is a monotonic-clock pollable
//! and a `block`) waits inside the host, where no epoch check happens: it
//! held a 1 s call for as long as it liked. These replacements wait for the
//! same pollables, but only for what is left of the call's time
//! ([`StageState::deadline`]); past it the call traps as a time-limit stop,
//! exactly like wasm code that runs too long. The wait is charged to the
//! call's clock ([`crate::call_clock`]): waiting is the stage's choice, so
//! it counts as the stage's time though it uses no CPU. Every other way a stage could
//! wait (stdin, stdout, stderr, sockets) is closed, in memory or refused by
//! the stage's `WasiCtx`, so these two functions are the only places a
//! stage can wait in the host.

use std::time::Instant;

use wasmtime::component::{Linker, Resource};
use wasmtime::{StoreContextMut, Trap};
use wasmtime_wasi_io::bindings::wasi::io::poll::{Host as _, HostPollable as _};
use wasmtime_wasi_io::poll::DynPollable;

use crate::stage_state::StageState;

/// The `wasi:io/poll` version wasmtime-wasi defines; stages importing any
/// 0.2.x version are linked to it.
const POLL_INTERFACE: &str = "wasi:io/poll@0.2.12";

/// Replaces wasmtime-wasi's `poll` and `pollable.block` in `linker` (which
/// must already hold wasmtime-wasi's definitions) with deadline-bound ones.
pub(crate) fn bound_waits_by_deadline(linker: &mut Linker<StageState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut poll = linker.instance(POLL_INTERFACE)?;
    poll.func_wrap(
        "poll",
        |mut store: StoreContextMut<'_, StageState>,
         (pollables,): (Vec<Resource<DynPollable>>,)| {
            let state = store.data_mut();
            let (deadline, started) = (state.deadline(), Instant::now());
            let ready = wait_until(deadline, state.table_mut().poll(pollables));
            state.clock.charge_wait(started.elapsed());
            finish(state, ready).map(|ready| (ready,))
        },
    )?;
    poll.func_wrap(
        "[method]pollable.block",
        |mut store: StoreContextMut<'_, StageState>, (pollable,): (Resource<DynPollable>,)| {
            let state = store.data_mut();
            let (deadline, started) = (state.deadline(), Instant::now());
            let done = wait_until(deadline, state.table_mut().block(pollable));
            state.clock.charge_wait(started.elapsed());
            finish(state, done)
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// Runs `wait` (a wasmtime-wasi poll future) until it ends or `deadline`
/// passes; `None` when the deadline came first.
fn wait_until<T>(
    deadline: Instant,
    wait: impl Future<Output = wasmtime::Result<T>>,
) -> Option<wasmtime::Result<T>> {
    // wasmtime-wasi's pollables are tokio futures (its sleeps are tokio
    // timers); `in_tokio` runs them on its runtime, as its own sync
    // bindings do.
    wasmtime_wasi::runtime::in_tokio(async {
        tokio::time::timeout_at(deadline.into(), wait).await.ok()
    })
}

/// The wait's result, or a time-limit trap when the deadline came first.
fn finish<T>(state: &mut StageState, result: Option<wasmtime::Result<T>>) -> wasmtime::Result<T> {
    match result {
        Some(result) => result,
        None => {
            state.deadline_passed = true;
            Err(Trap::Interrupt.into())
        }
    }
}
