//! A checked chain of loaded stages, from which sessions are started.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::bindings::types::Port;
use crate::chain::{ChainSpec, StageSpec};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::limits::{MAX_PARAMS, MAX_STAGES};
use crate::session::{Session, StageSwap};
use crate::stage::{ConfiguredStage, LoadedStage, StageInstance};

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
    /// The pipeline file's `name`, kept by [`Pipeline::with_stage_replaced`].
    given_name: Option<String>,
    stages: Vec<ConfiguredStage>,
    /// The largest picture sessions take, side by side (`None`: no bound):
    /// see [`Pipeline::with_max_picture`].
    max_picture: (Option<u32>, Option<u32>),
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
            stages.push(configure(engine, spec)?);
        }
        let check: Vec<usize> = (0..stages.len()).collect();
        let mut pipeline = Pipeline::assemble(engine, chain.name.clone(), stages, &check)?;
        pipeline.max_picture = (chain.max_width, chain.max_height);
        Ok(pipeline)
    }

    /// The same pipeline taking pictures of at most `max_width` by
    /// `max_height` (each `None` for no bound on that side; with both, a
    /// picture may fit either way round): a picture over it, leaving the
    /// first stage (the decoder) or pushed into it,
    /// fails the session with [`crate::StageFailure::PictureSize`] before
    /// the rest of the chain spends anything on it. A server uses it to
    /// hold every pipeline to its own bound (`framechain serve
    /// --max-size`); the tighter of this and a bound the pipeline already
    /// has holds. No stage is loaded or created again.
    pub fn with_max_picture(&self, max_width: Option<u32>, max_height: Option<u32>) -> Pipeline {
        let tighter = |old: Option<u32>, new: Option<u32>| match (old, new) {
            (Some(old), Some(new)) => Some(old.min(new)),
            (old, new) => old.or(new),
        };
        Pipeline {
            fingerprint: self.fingerprint,
            engine: self.engine.clone(),
            name: self.name.clone(),
            given_name: self.given_name.clone(),
            stages: self
                .stages
                .iter()
                .map(ConfiguredStage::clone_config)
                .collect(),
            max_picture: (
                tighter(self.max_picture.0, max_width),
                tighter(self.max_picture.1, max_height),
            ),
            sessions_started: AtomicU64::new(0),
        }
    }

    /// The engine the pipeline's stages were loaded on, to build another
    /// pipeline beside it (a server's per-room chains) on the same stage
    /// cache and limits.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The largest picture (width, height) sessions take; `None` on a
    /// side without a bound.
    pub fn max_picture(&self) -> (Option<u32>, Option<u32>) {
        self.max_picture
    }

    /// Checks that the stages fit together, lets the stages at `check` judge
    /// their parameters (a trial `create`) and names and fingerprints the
    /// chain.
    fn assemble(
        engine: &Engine,
        given_name: Option<String>,
        stages: Vec<ConfiguredStage>,
        check: &[usize],
    ) -> Result<Pipeline> {
        for pair in stages.windows(2) {
            let (from, to) = (&pair[0].loaded, &pair[1].loaded);
            let (output, input) = (&from.description().output, &to.description().input);
            if !output.fits(input) {
                return Err(Error::ChainMismatch(format!(
                    "{} gives {} but {} takes {}",
                    from.name(),
                    output.describe(),
                    to.name(),
                    input.describe()
                )));
            }
        }
        // Let each stage judge its own parameter values now, before any
        // media flows, so a typo fails the command and not the first frame.
        for stage in check.iter().filter_map(|&index| stages.get(index)) {
            stage.loaded.instantiate(
                engine.instance_limits(),
                Arc::from(format!("{}#check", stage.loaded.name())),
                &stage.params,
            )?;
        }
        let name = given_name.clone().unwrap_or_else(|| {
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
                // A fixed build at the same path is another pipeline: its
                // cost is its own, and a swap to it is a change.
                stage.loaded.digest().hash(&mut hasher);
                stage.params.hash(&mut hasher);
            }
            hasher.finish()
        };
        Ok(Pipeline {
            fingerprint,
            engine: engine.clone(),
            name,
            given_name,
            stages,
            max_picture: (None, None),
            sessions_started: AtomicU64::new(0),
        })
    }

    /// The same chain with stage `index` replaced by `stage` (a new
    /// redaction policy, a fixed encoder build), for
    /// [`crate::live::LiveRuntime::swap_pipeline`] and
    /// [`Pipeline::stage_swap`]. The new stage is loaded, its parameters are
    /// checked against its description and by a trial `create`, and its
    /// ports must fit its neighbours and keep the chain's ends: it takes
    /// what the old stage took at the chain's start and gives what the old
    /// one gave at its end, so running sessions' inputs and owners still
    /// fit. Nothing about `self` or its sessions changes.
    pub fn with_stage_replaced(&self, index: usize, stage: &StageSpec) -> Result<Pipeline> {
        if index >= self.stages.len() {
            return Err(Error::InvalidChain(format!(
                "no stage {index} to replace: the chain has {} stages (0 to {})",
                self.stages.len(),
                self.stages.len() - 1
            )));
        }
        let replacement = configure(&self.engine, stage)?;
        let mut stages: Vec<ConfiguredStage> = self
            .stages
            .iter()
            .map(ConfiguredStage::clone_config)
            .collect();
        // The ends first: a stage that cannot take the sessions' input or
        // give their owners' output is refused before any trial `create`.
        let (old, new) = (
            self.stages[index].loaded.description(),
            replacement.loaded.description(),
        );
        if index == 0 && !old.input.fits(&new.input) {
            return Err(Error::ChainMismatch(format!(
                "{} takes {} but the chain's input is {}",
                new.name,
                new.input.describe(),
                old.input.describe()
            )));
        }
        if index + 1 == self.stages.len() && !new.output.fits(&old.output) {
            return Err(Error::ChainMismatch(format!(
                "{} gives {} but the chain's output is {}",
                new.name,
                new.output.describe(),
                old.output.describe()
            )));
        }
        stages[index] = replacement;
        let mut pipeline =
            Pipeline::assemble(&self.engine, self.given_name.clone(), stages, &[index])?;
        // A swapped stage does not lift the bound on pictures.
        pipeline.max_picture = self.max_picture;
        Ok(pipeline)
    }

    /// The position of the first stage named `name` (as it describes
    /// itself), for [`Pipeline::with_stage_replaced`].
    pub fn stage_index(&self, name: &str) -> Option<usize> {
        self.stages
            .iter()
            .position(|stage| stage.loaded.name() == name)
    }

    /// The positions at which `to` runs another stage, or the same stage
    /// with other parameters, than `self`; an error when sessions of `self`
    /// cannot switch to `to`: another number of stages, or ends that no
    /// longer take what `self` takes or give what it gives.
    pub(crate) fn replaced_positions(&self, to: &Pipeline) -> Result<Vec<usize>> {
        if to.stages.len() != self.stages.len() {
            return Err(Error::InvalidChain(format!(
                "cannot swap a chain of {} stages for one of {}: replace stages one for one",
                self.stages.len(),
                to.stages.len()
            )));
        }
        self.check_same_ends(to)?;
        Ok(self
            .stages
            .iter()
            .zip(&to.stages)
            .enumerate()
            .filter(|(_, (old, new))| {
                !Arc::ptr_eq(&old.loaded, &new.loaded) || old.params != new.params
            })
            .map(|(index, _)| index)
            .collect())
    }

    /// Whether `to`'s first stage takes what `self`'s takes and its last
    /// gives what `self`'s gives.
    fn check_same_ends(&self, to: &Pipeline) -> Result<()> {
        if !self.input().fits(to.input()) {
            return Err(Error::ChainMismatch(format!(
                "{} takes {} but the chain's input is {}",
                to.stages[0].loaded.name(),
                to.input().describe(),
                self.input().describe()
            )));
        }
        if !to.output().fits(self.output()) {
            return Err(Error::ChainMismatch(format!(
                "{} gives {} but the chain's output is {}",
                to.stages[to.stages.len() - 1].loaded.name(),
                to.output().describe(),
                self.output().describe()
            )));
        }
        Ok(())
    }

    /// The stages with their parameters, for starting and swapping
    /// instances.
    /// What a session of `self` needs to switch to `to` (made with
    /// [`Pipeline::with_stage_replaced`] from it): the replaced positions
    /// with `to`'s stages there. Refused when `to` has another number of
    /// stages or other ends.
    pub(crate) fn stage_swap<'a>(&self, to: &'a Pipeline) -> Result<StageSwap<'a>> {
        let positions = self.replaced_positions(to)?;
        Ok(StageSwap {
            stages: self.stages.len(),
            replacements: positions
                .into_iter()
                .map(|index| (index, &to.stages[index]))
                .collect(),
            limits: to.instance_limits(),
        })
    }

    /// The instances a session of `self` (numbered `session`, for their
    /// log label) switches to when it swaps to `to`, made now: what
    /// [`crate::session::Session::swap_stages`] would make at the
    /// keyframe, made ahead instead. Fresh instances for that one session.
    pub(crate) fn swap_instances(&self, to: &Pipeline, session: u64) -> Result<Vec<StageInstance>> {
        self.stage_swap(to)?.instantiate(session, self.max_picture)
    }

    /// The limits this pipeline's instances run under.
    pub(crate) fn instance_limits(&self) -> crate::stage::InstanceLimits {
        self.engine.instance_limits()
    }

    /// A number pipelines of the same stage files (path and content) and
    /// parameters share.
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
        if !input.fits(self.input()) {
            return Err(Error::ChainMismatch(format!(
                "the input gives {} but {} takes {}",
                input.describe(),
                self.stages[0].loaded.name(),
                self.input().describe()
            )));
        }
        if !self.output().fits(output) {
            return Err(Error::ChainMismatch(format!(
                "{} gives {} but the output takes {}",
                self.stages[self.stages.len() - 1].loaded.name(),
                self.output().describe(),
                output.describe()
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
            self.max_picture,
            id,
        )
    }
}

impl ConfiguredStage {
    /// The same loaded stage and parameters.
    fn clone_config(&self) -> ConfiguredStage {
        ConfiguredStage {
            loaded: self.loaded.clone(),
            params: self.params.clone(),
        }
    }
}

/// Loads one stage and checks its parameter names.
fn configure(engine: &Engine, spec: &StageSpec) -> Result<ConfiguredStage> {
    let loaded = engine.load_stage_pinned(&spec.stage, spec.digest.as_deref())?;
    check_param_names(&loaded, &spec.params)?;
    Ok(ConfiguredStage {
        loaded,
        params: spec.params.clone(),
    })
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
