//! A checked chain of loaded stages, from which sessions are started.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::bindings::types::Port;
use crate::chain::ChainSpec;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::limits::{MAX_PARAMS, MAX_STAGES};
use crate::ports;
use crate::session::Session;
use crate::stage::{ConfiguredStage, LoadedStage};

/// A chain whose stages are loaded and compiled, whose parameters every
/// stage has accepted and whose ports fit together. Nothing has flowed yet;
/// [`Pipeline::start_session`] makes the per-session instances.
pub struct Pipeline {
    /// The same for pipelines of the same stage files and parameters: the
    /// live runtime learns a pipeline's cost under it, so a server that
    /// builds a pipeline per call still gets each call measured.
    fingerprint: u64,
    engine: Engine,
    name: String,
    stages: Vec<ConfiguredStage>,
    sessions_started: AtomicU64,
}

impl Pipeline {
    /// Loads every stage, checks the parameters against each stage's
    /// description and then with the stage itself (a trial `create`), and
    /// checks that each stage's output fits the next stage's input.
    pub fn build(engine: &Engine, chain: &ChainSpec) -> Result<Pipeline> {
        if chain.stages.is_empty() {
            return Err(Error::InvalidChain("the chain has no stages".into()));
        }
        // Every entry point (launch line, pipeline file, a ChainSpec built
        // by an embedder) comes through here.
        if chain.stages.len() > MAX_STAGES {
            return Err(Error::InvalidChain(format!(
                "the chain has {} stages (at most {MAX_STAGES})",
                chain.stages.len()
            )));
        }
        let mut stages = Vec::with_capacity(chain.stages.len());
        for spec in &chain.stages {
            let loaded = engine.load_stage_pinned(&spec.stage, spec.digest.as_deref())?;
            check_param_names(&loaded, &spec.params)?;
            stages.push(ConfiguredStage {
                loaded,
                params: spec.params.clone(),
            });
        }
        for pair in stages.windows(2) {
            let (from, to) = (&pair[0].loaded, &pair[1].loaded);
            let (output, input) = (&from.description().output, &to.description().input);
            if !ports::fits(output, input) {
                return Err(Error::ChainMismatch(format!(
                    "{} gives {} but {} takes {}",
                    from.name(),
                    ports::describe(output),
                    to.name(),
                    ports::describe(input)
                )));
            }
        }
        // Let each stage judge its own parameter values now, before any
        // media flows, so a typo fails the command and not the first frame.
        for stage in &stages {
            stage.loaded.instantiate(
                engine.instance_limits(),
                Arc::from(format!("{}#check", stage.loaded.name())),
                &stage.params,
            )?;
        }
        let name = chain.name.clone().unwrap_or_else(|| {
            stages
                .iter()
                .map(|stage| stage.loaded.name())
                .collect::<Vec<_>>()
                .join("!")
        });
        let fingerprint = {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            for stage in &stages {
                stage.loaded.path().hash(&mut hasher);
                stage.params.hash(&mut hasher);
            }
            hasher.finish()
        };
        Ok(Pipeline {
            fingerprint,
            engine: engine.clone(),
            name,
            stages,
            sessions_started: AtomicU64::new(0),
        })
    }

    /// A number pipelines of the same stage files and parameters share.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The chain's name: the pipeline file's `name`, or the stage names
    /// joined by `!`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the first stage takes in.
    pub fn input(&self) -> &Port {
        &self.stages[0].loaded.description().input
    }

    /// What the last stage gives out.
    pub fn output(&self) -> &Port {
        &self.stages[self.stages.len() - 1]
            .loaded
            .description()
            .output
    }

    /// The loaded stages, in order.
    pub fn stages(&self) -> impl Iterator<Item = &LoadedStage> {
        self.stages.iter().map(|stage| stage.loaded.as_ref())
    }

    /// Checks that a source of `input` media and a sink of `output` media
    /// fit the ends of the chain (e.g. a Y4M file in, an `.h264` file out).
    pub fn check_ends(&self, input: &Port, output: &Port) -> Result<()> {
        if !ports::fits(input, self.input()) {
            return Err(Error::ChainMismatch(format!(
                "the input gives {} but {} takes {}",
                ports::describe(input),
                self.stages[0].loaded.name(),
                ports::describe(self.input())
            )));
        }
        if !ports::fits(self.output(), output) {
            return Err(Error::ChainMismatch(format!(
                "{} gives {} but the output takes {}",
                self.stages[self.stages.len() - 1].loaded.name(),
                ports::describe(self.output()),
                ports::describe(output)
            )));
        }
        Ok(())
    }

    /// A new session: one fresh instance of every stage, each in its own
    /// store with its own linear memory.
    pub fn start_session(&self) -> Result<Session> {
        let id = self.sessions_started.fetch_add(1, Ordering::Relaxed) + 1;
        Session::start(
            self.engine.instance_limits(),
            self.engine.config().in_flight_limit,
            &self.stages,
            id,
        )
    }
}

/// Rejects parameters the stage does not list and missing required ones,
/// naming what the stage does accept.
fn check_param_names(stage: &LoadedStage, params: &[(String, String)]) -> Result<()> {
    let specs = &stage.description().params;
    if params.len() > MAX_PARAMS {
        return Err(Error::BadParameter {
            stage: stage.name().to_owned(),
            message: format!("{} parameters given (at most {MAX_PARAMS})", params.len()),
        });
    }
    // Sets, not scans: both lists come from people and stages.
    let known: HashSet<&str> = specs.iter().map(|spec| spec.name.as_str()).collect();
    let given: HashSet<&str> = params.iter().map(|(key, _)| key.as_str()).collect();
    for (key, _) in params {
        if !known.contains(key.as_str()) {
            let key = crate::text::untrusted(key, crate::text::MAX_NAME_CHARS);
            let known: Vec<&str> = specs.iter().map(|spec| spec.name.as_str()).collect();
            let known = if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            };
            return Err(Error::BadParameter {
                stage: stage.name().to_owned(),
                message: format!("unknown parameter \"{key}\" (parameters: {known})"),
            });
        }
    }
    for spec in specs.iter().filter(|spec| spec.required) {
        if !given.contains(spec.name.as_str()) {
            return Err(Error::BadParameter {
                stage: stage.name().to_owned(),
                message: format!(
                    "missing required parameter \"{}\": {}",
                    spec.name, spec.help
                ),
            });
        }
    }
    Ok(())
}
