//! A loaded stage component and its running instances.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasmtime::component::ResourceAny;
use wasmtime::{Store, Trap};

use crate::bindings::types::{Media as WitMedia, Output, StageDescription};
use crate::bindings::{StageComponent, StageComponentPre};
use crate::engine::Engine;
use crate::error::{Error, Result, StageFailure, describe_stage_error};
use crate::stage_state::StageState;

/// A compiled, checked stage component: ready to be instantiated cheaply
/// (its imports are resolved once, in an `InstancePre`).
pub struct LoadedStage {
    path: PathBuf,
    pre: StageComponentPre<StageState>,
    description: StageDescription,
}

impl LoadedStage {
    pub(crate) fn new(
        engine: &Engine,
        path: PathBuf,
        pre: wasmtime::component::InstancePre<StageState>,
    ) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidComponent {
            path: path.clone(),
            reason,
        };
        let pre = StageComponentPre::new(pre).map_err(|error| invalid(format!("{error:#}")))?;
        // The description is read from a throwaway instance, under the same
        // limits as any call, so a hostile `describe` cannot hang the host.
        let label: Arc<str> = Arc::from(format!("{}#describe", path.display()));
        let mut store = new_store(engine, label);
        let bindings = pre.instantiate(&mut store).map_err(|error| {
            invalid(format!(
                "instantiation failed: {}",
                classify(engine, &store, error)
            ))
        })?;
        store.set_epoch_deadline(engine.call_timeout_ticks());
        let description = bindings
            .framechain_stage_stage()
            .call_describe(&mut store)
            .map_err(|error| {
                invalid(format!(
                    "describe() failed: {}",
                    classify(engine, &store, error)
                ))
            })?;
        if description.name.is_empty() {
            return Err(invalid("describe() gave an empty stage name".into()));
        }
        Ok(LoadedStage {
            path,
            pre,
            description,
        })
    }

    /// The stage's name as it describes itself.
    pub fn name(&self) -> &str {
        &self.description.name
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the stage said about itself: ports, parameters, help.
    pub fn description(&self) -> &StageDescription {
        &self.description
    }

    /// A fresh instance in a store of its own, configured with `params`.
    /// A parameter the stage rejects becomes [`Error::BadParameter`] with
    /// the stage's own message.
    pub(crate) fn instantiate(
        &self,
        engine: &Engine,
        label: Arc<str>,
        params: &[(String, String)],
    ) -> Result<StageInstance> {
        let mut store = new_store(engine, label);
        let failed = |failure: StageFailure| Error::StageFailed {
            stage: self.name().to_owned(),
            failure,
        };
        let bindings = self.pre.instantiate(&mut store).map_err(|error| {
            // A trap in start code is the stage's fault; anything else
            // (the pooling allocator is full, the host is out of memory)
            // is the host's capacity and is reported as such.
            if error.downcast_ref::<Trap>().is_some() {
                failed(classify(engine, &store, error))
            } else {
                Error::Runtime(format!(
                    "cannot start an instance of stage {}: {}",
                    self.name(),
                    error.root_cause()
                ))
            }
        })?;
        store.set_epoch_deadline(engine.call_timeout_ticks());
        let created = bindings
            .framechain_stage_stage()
            .processor()
            .call_create(&mut store, params)
            .map_err(|error| failed(classify(engine, &store, error)))?;
        let processor = created.map_err(|error| {
            let message = match error {
                crate::bindings::types::StageError::BadParameter(message) => message,
                other => describe_stage_error(&other),
            };
            // Stages conventionally start their messages with their own
            // name; the error adds it, so it would appear twice.
            let prefix = format!("{}: ", self.name());
            let message = message
                .strip_prefix(&prefix)
                .map(str::to_owned)
                .unwrap_or(message);
            Error::BadParameter {
                stage: self.name().to_owned(),
                message,
            }
        })?;
        Ok(StageInstance {
            engine: engine.clone(),
            store,
            bindings,
            processor,
        })
    }
}

fn new_store(engine: &Engine, label: Arc<str>) -> Store<StageState> {
    let mut store = Store::new(
        engine.wasmtime(),
        StageState::new(
            label,
            engine.config().memory_limit,
            engine.config().native_h264,
        ),
    );
    store.limiter(|state| &mut state.memory);
    store.epoch_deadline_trap();
    // Instantiation runs the component's start code: it is under the
    // time limit too.
    store.set_epoch_deadline(engine.call_timeout_ticks());
    store
}

/// Turns a wasmtime error from a call into the reason a person needs.
fn classify(engine: &Engine, store: &Store<StageState>, error: wasmtime::Error) -> StageFailure {
    let state = store.data();
    if state.memory.exceeded {
        return StageFailure::MemoryLimit(state.memory.limit);
    }
    if matches!(error.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
        return StageFailure::TimeLimit(engine.config().call_timeout);
    }
    // wasmtime's error carries a multi-line wasm backtrace; people need the
    // trap itself and, for a Rust stage, the panic message it printed.
    let trap = match error.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        None => error.root_cause().to_string(),
    };
    let trap = trap.lines().next().unwrap_or("trap").to_owned();
    let message = match state.panic_message() {
        Some(panic) => format!("{panic} ({trap})"),
        None => trap,
    };
    StageFailure::Trap(message)
}

/// One stage of one session: its own store, linear memory and processor.
pub(crate) struct StageInstance {
    engine: Engine,
    store: Store<StageState>,
    bindings: StageComponent,
    processor: ResourceAny,
}

/// What the host gets back from one call, frames already taken out of the
/// stage's resource table.
pub(crate) struct CallOutput {
    pub media: Vec<crate::media::Media>,
    pub dropped: Vec<crate::bindings::types::DroppedFrame>,
}

impl StageInstance {
    pub(crate) fn push(&mut self, input: crate::media::Media) -> Result<CallOutput, StageFailure> {
        let input = match input {
            crate::media::Media::Frame(frame) => {
                WitMedia::Frame(self.store.data_mut().insert_frame(frame).map_err(trap)?)
            }
            crate::media::Media::Packet(packet) => WitMedia::Packet(packet),
        };
        self.call(|bindings, store, processor| {
            bindings
                .framechain_stage_stage()
                .processor()
                .call_push(store, processor, &input)
        })
    }

    pub(crate) fn flush(&mut self) -> Result<CallOutput, StageFailure> {
        self.call(|bindings, store, processor| {
            bindings
                .framechain_stage_stage()
                .processor()
                .call_flush(store, processor)
        })
    }

    /// Runs one call under the time limit and converts its output.
    fn call(
        &mut self,
        f: impl FnOnce(
            &StageComponent,
            &mut Store<StageState>,
            ResourceAny,
        ) -> wasmtime::Result<Result<Output, crate::bindings::types::StageError>>,
    ) -> Result<CallOutput, StageFailure> {
        self.store.data_mut().start_call();
        self.store
            .set_epoch_deadline(self.engine.call_timeout_ticks());
        let result = f(&self.bindings, &mut self.store, self.processor);
        let output = match result {
            Err(error) => return Err(classify(&self.engine, &self.store, error)),
            Ok(Err(stage_error)) => {
                return Err(StageFailure::Rejected(describe_stage_error(&stage_error)));
            }
            Ok(Ok(output)) => output,
        };
        let mut media = Vec::with_capacity(output.media.len());
        for item in output.media {
            media.push(match item {
                WitMedia::Frame(handle) => crate::media::Media::Frame(
                    self.store.data_mut().take_frame(handle).map_err(trap)?,
                ),
                WitMedia::Packet(packet) => crate::media::Media::Packet(packet),
            });
        }
        Ok(CallOutput {
            media,
            dropped: output.dropped,
        })
    }

    /// Log lines the stage wrote beyond its per-call allowance.
    pub(crate) fn suppressed_log_lines(&self) -> u64 {
        self.store.data().suppressed_log_lines
    }
}

fn trap(error: wasmtime::Error) -> StageFailure {
    StageFailure::Trap(format!("{error:#}"))
}
