//! A loaded stage component and its running instances.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::ResourceAny;
use wasmtime::{Store, Trap};

use crate::bindings::types::{
    Control, Media as WitMedia, Notice, Output, Port, StageDescription, StageError,
};
use crate::bindings::{StageComponent, StageComponentPre};
use crate::error::{Error, Result, StageFailure};
use crate::limits::MAX_PARAMS;
use crate::stage_state::StageState;
use crate::text;

/// A compiled, checked stage component: ready to be instantiated cheaply
/// (its imports are resolved once, in an `InstancePre`).
pub struct LoadedStage {
    path: PathBuf,
    digest: String,
    pre: StageComponentPre<StageState>,
    description: StageDescription,
}

/// A stage of a chain with the parameters its instances are made with.
pub(crate) struct ConfiguredStage {
    pub(crate) loaded: Arc<LoadedStage>,
    pub(crate) params: Vec<(String, String)>,
}

/// The limits every instance of a stage runs under, from the engine's
/// settings ([`crate::EngineConfig`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct InstanceLimits {
    /// Linear memory, and separately the host budget, per instance.
    pub(crate) memory_limit: usize,
    /// The stage's own time per call (see [`crate::call_clock`]).
    pub(crate) call_timeout: Duration,
    /// Whether the instance may make native encoders.
    pub(crate) native_h264: bool,
}

impl LoadedStage {
    pub(crate) fn new(
        limits: InstanceLimits,
        path: PathBuf,
        digest: String,
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
        let mut store = new_store(pre.instance_pre().engine(), limits, label);
        let bindings = pre.instantiate(&mut store).map_err(|error| {
            invalid(format!(
                "instantiation failed: {}",
                classify(limits, &store, error)
            ))
        })?;
        arm_deadline(limits, &mut store);
        let description = bindings
            .framechain_stage_stage()
            .call_describe(&mut store)
            .map_err(|error| {
                // The stage has no name before describe() gives one: it is
                // named by its file. A stage stopped at a limit is a stage
                // that misbehaved, not a file that is not a stage.
                let failure = classify(limits, &store, error);
                match failure {
                    StageFailure::Trap(_) => invalid(format!("describe() failed: {failure}")),
                    failure => Error::StageFailed {
                        stage: format!("{} (in describe)", path.display()),
                        failure,
                    },
                }
            })?;
        let description = checked_description(description).map_err(invalid)?;
        Ok(LoadedStage {
            path,
            digest,
            pre,
            description,
        })
    }

    /// The stage's name as it describes itself.
    pub fn name(&self) -> &str {
        &self.description.name
    }

    /// The file the stage was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The content digest of the file the stage was compiled from,
    /// `sha256:` and 64 lowercase hex digits: what a pipeline file pins
    /// with `digest:`.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// What the stage said about itself: ports, parameters, help.
    pub fn description(&self) -> &StageDescription {
        &self.description
    }

    /// A fresh instance in a store of its own, configured with `params`.
    /// A parameter the stage rejects (`bad-parameter`) becomes
    /// [`Error::BadParameter`] with the stage's own message; any other
    /// error from `create` is [`Error::StageFailed`] with
    /// [`StageFailure::Rejected`] of its kind, and a trap or a limit is
    /// [`Error::StageFailed`] as in any call.
    pub(crate) fn instantiate(
        &self,
        limits: InstanceLimits,
        label: Arc<str>,
        params: &[(String, String)],
    ) -> Result<StageInstance> {
        let mut store = new_store(self.pre.instance_pre().engine(), limits, label);
        let failed = |failure: StageFailure| Error::StageFailed {
            stage: self.name().to_owned(),
            failure,
        };
        let bindings = self.pre.instantiate(&mut store).map_err(|error| {
            // A trap in start code is the stage's fault; anything else
            // (the pooling allocator is full, the host is out of memory)
            // is the host's capacity and is reported as such.
            if error.downcast_ref::<Trap>().is_some() {
                failed(classify(limits, &store, error))
            } else {
                Error::Runtime(format!(
                    "cannot start an instance of stage {}: {}",
                    self.name(),
                    error.root_cause()
                ))
            }
        })?;
        arm_deadline(limits, &mut store);
        let created = bindings
            .framechain_stage_stage()
            .processor()
            .call_create(&mut store, params)
            .map_err(|error| failed(classify(limits, &store, error)))?;
        let processor = created.map_err(|error| {
            let StageError::BadParameter(message) = error else {
                // Any other kind is the stage failing, not the user's
                // parameters: it keeps its kind.
                return failed(StageFailure::rejected(&error));
            };
            let message = text::untrusted(&message, text::MAX_MESSAGE_CHARS);
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
            limits,
            store,
            bindings,
            processor,
            gives_frames: matches!(self.description.output, Port::Frames(_)),
        })
    }
}

fn new_store(
    engine: &wasmtime::Engine,
    limits: InstanceLimits,
    label: Arc<str>,
) -> Store<StageState> {
    let mut store = Store::new(
        engine,
        StageState::new(label, limits.memory_limit, limits.native_h264),
    );
    store.limiter(|state| &mut state.memory);
    // What one crossing may make the host copy (see crate::lift).
    store.set_hostcall_fuel(crate::crossing::hostcall_fuel(limits.memory_limit));
    // Every tick, the running call's own time is checked against its limit
    // (crate::call_clock): time spent waiting for a core does not count.
    store.epoch_deadline_callback(|mut context| {
        let state = context.data_mut();
        if state.clock.expired() {
            state.deadline_passed = true;
            return Err(Trap::Interrupt.into());
        }
        Ok(wasmtime::UpdateDeadline::Continue(1))
    });
    // Instantiation runs the component's start code: it is under the
    // time limit too.
    arm_deadline(limits, &mut store);
    store
}

/// Starts the time limit of one call on this thread: the epoch callback
/// checks wasm code every tick, host code checks the same clock.
fn arm_deadline(limits: InstanceLimits, store: &mut Store<StageState>) {
    store.data_mut().start_call(limits.call_timeout);
    store.set_epoch_deadline(1);
}

/// Turns a wasmtime error from a call into the reason a person needs.
fn classify(
    limits: InstanceLimits,
    store: &Store<StageState>,
    error: wasmtime::Error,
) -> StageFailure {
    let state = store.data();
    if let Some(reason) = &state.limit_broken {
        return StageFailure::Limit(reason.clone());
    }
    if state.memory.exceeded {
        return StageFailure::MemoryLimit(state.memory.limit);
    }
    if format!("{error:#}").contains(crate::crossing::HOSTCALL_FUEL_EXHAUSTED) {
        return StageFailure::Limit(format!(
            "one call handed the host more than {} MiB to copy",
            crate::crossing::hostcall_fuel(state.memory.limit) >> 20
        ));
    }
    if state.deadline_passed || matches!(error.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
        return StageFailure::TimeLimit(limits.call_timeout);
    }
    // wasmtime's error carries a multi-line wasm backtrace; people need the
    // trap itself and, for a Rust stage, the panic message it printed.
    let trap = match error.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        None => error.root_cause().to_string(),
    };
    let trap = text::untrusted(
        trap.lines().next().unwrap_or("trap"),
        text::MAX_MESSAGE_CHARS,
    );
    let message = match state.panic_message() {
        Some(panic) => format!("{panic} ({trap})"),
        None => trap,
    };
    StageFailure::Trap(message)
}

/// One stage of one session: its own store, linear memory and processor.
pub(crate) struct StageInstance {
    limits: InstanceLimits,
    store: Store<StageState>,
    bindings: StageComponent,
    processor: ResourceAny,
    /// Whether the stage's output port is frames (else packets): what it
    /// gives out must be of that kind, or the next stage would get media
    /// it never agreed to take.
    gives_frames: bool,
}

/// What the host gets back from one call, frames already taken out of the
/// stage's resource table.
pub(crate) struct CallOutput {
    pub media: Vec<crate::media::Media>,
    pub dropped: Vec<crate::bindings::types::DroppedFrame>,
    pub notices: Vec<Notice>,
}

impl StageInstance {
    pub(crate) fn push(&mut self, input: crate::media::Media) -> Result<CallOutput, StageFailure> {
        let input = match input {
            crate::media::Media::Frame(frame) => match self.store.data_mut().insert_frame(frame) {
                Ok(handle) => WitMedia::Frame(handle),
                // Over budget: the input is refused before the stage sees it.
                Err(error) => return Err(classify(self.limits, &self.store, error)),
            },
            crate::media::Media::Packet(packet) => WitMedia::Packet(packet),
        };
        arm_deadline(self.limits, &mut self.store);
        let result = self
            .bindings
            .framechain_stage_stage()
            .processor()
            .call_push(&mut self.store, self.processor, &input);
        self.finish_call(result)
    }

    /// Sends a control event (keyframe request, bitrate) into the stage.
    pub(crate) fn control(&mut self, event: Control) -> Result<(), StageFailure> {
        arm_deadline(self.limits, &mut self.store);
        match self
            .bindings
            .framechain_stage_stage()
            .processor()
            .call_control(&mut self.store, self.processor, event)
        {
            Err(error) => Err(classify(self.limits, &self.store, error)),
            Ok(Err(stage_error)) => Err(StageFailure::rejected(&stage_error)),
            Ok(Ok(())) => Ok(()),
        }
    }

    pub(crate) fn flush(&mut self) -> Result<CallOutput, StageFailure> {
        arm_deadline(self.limits, &mut self.store);
        let result = self
            .bindings
            .framechain_stage_stage()
            .processor()
            .call_flush(&mut self.store, self.processor);
        self.finish_call(result)
    }

    /// Checks a call's output and takes the frames the stage gave out of
    /// its table.
    fn finish_call(
        &mut self,
        result: wasmtime::Result<std::result::Result<Output, StageError>>,
    ) -> Result<CallOutput, StageFailure> {
        let output = match result {
            Err(error) => return Err(classify(self.limits, &self.store, error)),
            Ok(Err(stage_error)) => {
                return Err(StageFailure::rejected(&stage_error));
            }
            Ok(Ok(output)) => output,
        };
        crate::crossing::check_output(&output).map_err(StageFailure::Limit)?;
        if let Some(wrong) = output
            .media
            .iter()
            .find(|item| matches!(item, WitMedia::Frame(_)) != self.gives_frames)
        {
            let (gave, port) = match wrong {
                WitMedia::Frame(_) => ("a frame", "packets"),
                WitMedia::Packet(_) => ("a packet", "frames"),
            };
            return Err(StageFailure::Contract(format!(
                "it gave out {gave}, but its output port is {port}"
            )));
        }
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
            notices: output.notices,
        })
    }

    /// Log lines the stage wrote beyond its allowance.
    pub(crate) fn suppressed_log_lines(&self) -> u64 {
        self.store.data().suppressed_log_lines
    }

    /// Bytes the host holds for the instance now, and at most so far.
    pub(crate) fn host_bytes(&self) -> (usize, usize) {
        let state = self.store.data();
        (state.host_bytes(), state.peak_host_bytes)
    }

    /// Linear memory the instance has now.
    pub(crate) fn linear_bytes(&self) -> usize {
        self.store.data().memory.linear_bytes
    }

    /// Frames the stage holds in its resource table.
    pub(crate) fn frames_held(&self) -> u64 {
        self.store.data().frames_held()
    }
}

/// Longest stage or parameter name.
const MAX_NAME_LEN: usize = 64;
/// Most choices one parameter may list.
const MAX_CHOICES: usize = 256;

/// A stage's description as the host keeps it: names that are plain
/// tokens (they appear in chains, logs and errors), every other text
/// escaped and cut to length, and bounded counts. Refuses what cannot be
/// made safe by escaping: a name a person could not type.
fn checked_description(mut description: StageDescription) -> Result<StageDescription, String> {
    check_name("stage name", &description.name)?;
    if description.params.len() > MAX_PARAMS {
        return Err(format!(
            "describe() lists {} parameters (at most {MAX_PARAMS})",
            description.params.len()
        ));
    }
    let short = |text: &mut String| *text = text::untrusted(text, text::MAX_NAME_CHARS);
    let long = |text: &mut String| *text = text::untrusted(text, text::MAX_MESSAGE_CHARS);
    short(&mut description.version);
    long(&mut description.summary);
    for param in &mut description.params {
        check_name("parameter name", &param.name)?;
        if param.choices.len() > MAX_CHOICES {
            return Err(format!(
                "describe() lists {} choices for \"{}\" (at most {MAX_CHOICES})",
                param.choices.len(),
                param.name
            ));
        }
        param.choices.iter_mut().for_each(short);
        if let Some(default) = &mut param.default {
            short(default);
        }
        long(&mut param.help);
    }
    Ok(description)
}

/// A name is 1 to 64 ASCII letters, digits, `-`, `_` or `.`.
fn check_name(what: &str, name: &str) -> Result<(), String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() || name.len() > MAX_NAME_LEN || !name.chars().all(plain) {
        return Err(format!(
            "describe() gave the {what} \"{}\" (expected 1 to {MAX_NAME_LEN} ASCII letters, digits, '-', '_' or '.')",
            text::untrusted(name, text::MAX_NAME_CHARS)
        ));
    }
    Ok(())
}

fn trap(error: wasmtime::Error) -> StageFailure {
    StageFailure::Trap(format!("{error:#}"))
}
