//! Whether a participant may do something: a Rego policy (OPA's language),
//! evaluated with `regorus`. The decision is `data.framechain.allow`;
//! anything but `true` (undefined, an error, another value) is deny. A
//! policy may also define `data.framechain.reason`, a string, to say why
//! it denies.
//!
//! The policy is compiled once per version of its file; each decision
//! evaluates on a clone of that prepared engine, so decisions run in
//! parallel and never see a half-loaded policy.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::file_watch::{Stamp, Watch};
use super::reload::{Listener, Reload, ReloadListener, ReloadOutcome, ReloadedFile, digest};
use super::{IdentityError, one_line};

/// The default policy: the clinic's rules (docs/visits.md).
pub const DEFAULT_POLICY: &str = include_str!("../policy/visit.rego");
/// The rule whose value is the decision.
const ALLOW_RULE: &str = "data.framechain.allow";
/// The rule a policy may give a denial's reason with.
const REASON_RULE: &str = "data.framechain.reason";
/// How often the policy file is looked at for a change.
const RELOAD_INTERVAL: Duration = Duration::from_secs(1);
/// Longest policy file read.
const MAX_POLICY_BYTES: u64 = 1 << 20;
/// Longest reason kept, in characters.
const MAX_REASON_CHARS: usize = 200;

/// A policy's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether the policy says `allow`.
    pub allow: bool,
    /// Why, in one line.
    pub reason: String,
}

/// A compiled policy and, when it came from a file, that file's watch.
/// `Send + Sync`: one for all the HTTP handlers.
pub struct Policy {
    engine: RwLock<Arc<Compiled>>,
    watch: Option<Watch>,
    listener: Listener,
}

/// One version of the policy: its prepared engine and the digest of its
/// text.
struct Compiled {
    engine: regorus::Engine,
    digest: String,
}

impl Policy {
    /// The default policy (`policy/visit.rego`), built in.
    pub fn default_policy() -> Policy {
        let engine = compile(DEFAULT_POLICY, "the default policy")
            .expect("the default policy compiles (checked by its tests)");
        Policy {
            engine: RwLock::new(Arc::new(Compiled {
                engine,
                digest: digest(DEFAULT_POLICY.as_bytes()),
            })),
            watch: None,
            listener: Listener::default(),
        }
    }

    /// The policy of `path`; one that does not compile is an error naming
    /// the file and the compiler's message.
    pub fn load(path: &Path) -> Result<Policy, IdentityError> {
        Policy::load_watching(path, RELOAD_INTERVAL)
    }

    /// [`Policy::load`], looking at the file every `interval` (tests).
    pub fn load_watching(path: &Path, interval: Duration) -> Result<Policy, IdentityError> {
        let stamp = Stamp::of(path);
        let compiled = compile_file(path)?;
        Ok(Policy {
            engine: RwLock::new(Arc::new(compiled)),
            watch: Some(Watch::new(path, stamp, interval)),
            listener: Listener::default(),
        })
    }

    /// Tells `listener` of every reload from now on: the new version's
    /// digest, or why it was refused. The listener runs on the thread that
    /// reloaded (a request's, or SIGHUP's): it must not block. The
    /// default policy is never reloaded.
    pub fn on_reload(&self, listener: ReloadListener) {
        self.listener.set(listener);
    }

    /// SHA-256 of the policy text in force, 64 lowercase hex digits.
    pub fn digest(&self) -> String {
        self.engine
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .digest
            .clone()
    }

    /// Reads the policy file again now (SIGHUP). A policy that does not
    /// compile leaves the old one in force; the error is returned (and
    /// logged). The default policy has nothing to reload.
    #[allow(dead_code)] // called on SIGHUP by the server's wiring (`rooms`)
    pub fn reload(&self) -> Result<(), IdentityError> {
        let Some(watch) = &self.watch else {
            return Ok(());
        };
        watch.mark_tried(Stamp::of(watch.path()));
        self.load_now(watch.path())
    }

    fn load_now(&self, path: &Path) -> Result<(), IdentityError> {
        let (result, outcome) = match compile_file(path) {
            Ok(compiled) => {
                let digest = compiled.digest.clone();
                *self.engine.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(compiled);
                log::info!("{}: policy reloaded (sha256 {digest})", path.display());
                (Ok(()), ReloadOutcome::Loaded { digest })
            }
            Err(error) => {
                log::warn!("{error}; the previous policy stays in force");
                let outcome = ReloadOutcome::Refused {
                    error: error.to_string(),
                    kept_digest: self.digest(),
                };
                (Err(error), outcome)
            }
        };
        self.listener.tell(Reload {
            file: ReloadedFile::Policy,
            path: path.to_owned(),
            outcome,
        });
        result
    }

    /// Looks at the policy file (if it is time to) and reloads it if it
    /// changed, so that a reload, and its notice, do not wait for the
    /// next decision. `serve` calls it a few times a second.
    pub fn refresh(&self) {
        let _ = self.current();
    }

    fn current(&self) -> Arc<Compiled> {
        if let Some(watch) = &self.watch
            && watch.changed(Instant::now()).is_some()
        {
            let _ = self.load_now(watch.path());
        }
        Arc::clone(&self.engine.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The policy's decision on `input` (the document of docs/visits.md).
    /// Deny unless the policy's `allow` is `true`.
    pub fn decide(&self, input: &serde_json::Value) -> Decision {
        let mut engine = self.current().engine.clone();
        let input = match regorus::Value::from_json_str(&input.to_string()) {
            Ok(input) => input,
            Err(_) => return deny("the policy input is not JSON".into()),
        };
        engine.set_input(input);
        match engine.eval_rule(ALLOW_RULE.into()) {
            Ok(regorus::Value::Bool(true)) => Decision {
                allow: true,
                reason: "allowed by the policy".into(),
            },
            Ok(_) => {
                let reason = match engine.eval_rule(REASON_RULE.into()) {
                    Ok(regorus::Value::String(reason)) => one_line(&reason, MAX_REASON_CHARS),
                    _ => "the policy does not allow it".into(),
                };
                deny(reason)
            }
            Err(error) => {
                log::warn!(
                    "the policy failed to evaluate: {}",
                    one_line(&error.to_string(), 300)
                );
                deny("the policy failed to evaluate".into())
            }
        }
    }
}

fn deny(reason: String) -> Decision {
    Decision {
        allow: false,
        reason,
    }
}

fn compile_file(path: &Path) -> Result<Compiled, IdentityError> {
    let io = |source| IdentityError::Io {
        path: PathBuf::from(path),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut text = String::new();
    use std::io::Read;
    file.take(MAX_POLICY_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    let name = path.display().to_string();
    if text.len() as u64 > MAX_POLICY_BYTES {
        return Err(IdentityError::Policy {
            source_name: name,
            reason: format!("over {MAX_POLICY_BYTES} bytes"),
        });
    }
    Ok(Compiled {
        engine: compile(&text, &name)?,
        digest: digest(text.as_bytes()),
    })
}

/// A prepared engine for `text`: parsed, and evaluated once on an empty
/// input so that errors the parser does not see (an unknown function, a
/// missing `allow` rule) show now, and clones start prepared.
pub fn compile(text: &str, name: &str) -> Result<regorus::Engine, IdentityError> {
    let error = |reason: String| IdentityError::Policy {
        source_name: name.to_owned(),
        reason: one_line(&reason, 600),
    };
    let mut engine = regorus::Engine::new();
    engine
        .add_policy(name.to_owned(), text.to_owned())
        .map_err(|e| error(e.to_string()))?;
    if !engine
        .get_packages()
        .map_err(|e| error(e.to_string()))?
        .iter()
        .any(|package| package == "data.framechain")
    {
        return Err(error("no package framechain".into()));
    }
    engine.set_input(regorus::Value::new_object());
    engine
        .eval_rule(ALLOW_RULE.into())
        .map_err(|e| error(e.to_string()))?;
    Ok(engine)
}
