//! The shared wasmtime engine: configuration, limits, the epoch clock that
//! enforces per-call time limits, and the compiled-component cache.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::component::{Component, Linker};
use wasmtime::{InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::artifacts::{Cache, DEFAULT_MAX_COMPONENT_BYTES, TrustedPrecompiled};
use crate::compile::CodeSettings;
use crate::error::{Error, Result};
use crate::registry::StageRegistry;
use crate::stage::{InstanceLimits, LoadedStage};
use crate::stage_state::StageState;

/// How often the epoch clock ticks. A running stage's time is checked
/// against its limit at every tick, so this is the limit's resolution.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Limits and options shared by every pipeline an [`Engine`] runs.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Linear memory each stage instance may use. The host-side frames a
    /// stage holds count against the same figure, separately.
    pub memory_limit: usize,
    /// Bytes a session may hold between its stages at once: the outputs of
    /// a call waiting to go through the rest of the chain. Sessions run
    /// items depth-first, so this is at most one call's outputs per stage.
    pub in_flight_limit: usize,
    /// Longest time one `push`, `flush`, `control` or `create` call may
    /// take before the stage is stopped and its session failed. It counts
    /// the stage's own time (CPU time of the call's thread, plus waits the
    /// stage asked for), not time spent waiting for a core, so an
    /// overloaded node does not fail healthy calls.
    pub call_timeout: Duration,
    /// Use wasmtime's pooling allocator, sized for this many concurrent
    /// stage instances (sessions x stages). Pre-reserves memory slots so
    /// that starting a session costs microseconds; `None` allocates on
    /// demand.
    pub pooling: Option<u32>,
    /// With [`EngineConfig::pooling`]: bytes of each linear memory that
    /// its pool slot keeps mapped when the instance is dropped. wasmtime
    /// sets them back to their initial contents (zeroes, or the module's
    /// data) with `memset` before the slot is used again, instead of
    /// handing the pages back to the kernel, so the next instance in the
    /// slot starts with them resident (no page faults) and never sees a
    /// byte of the one before. 0 (the default) returns every page.
    pub keep_resident: usize,
    /// Where compiled components are kept between runs; `None` compiles at
    /// every start. Each file is signed with a random per-installation key
    /// kept in the folder (`cache-key`, mode 0600): a file that was planted,
    /// changed or copied from another name is compiled again, never run. A
    /// folder that is not the current user's own or that others may write
    /// to is not used (one warning in the log).
    pub cache_dir: Option<PathBuf>,
    /// Where precompiled (native code) stage files may be loaded from.
    /// Empty by default: every stage is compiled from its wasm, and a
    /// precompiled file (`framechain package --precompile`) is refused with
    /// `Error::UntrustedPrecompiled`, because wasmtime runs such a file's
    /// machine code as it is, outside the sandbox. Only name folders that
    /// nobody but the operator can write to.
    pub trusted_precompiled: Vec<TrustedPrecompiled>,
    /// Largest stage component file read, in bytes (default 64 MiB; the
    /// shipped stages are 3-4 MB). Stage files must be regular files: a
    /// device or FIFO (`/dev/zero`) is refused before it is read.
    pub max_component_bytes: usize,
    /// Where built-in stages are found.
    pub registry: StageRegistry,
    /// Let stages use the host's native H.264 encoder (the `native-h264`
    /// import, `encode-h264 accel=native`): about 5.6x faster than OpenH264
    /// in wasm at 1080p, but it runs outside the sandbox (it reads only
    /// frames, never untrusted bytes) and its memory is outside the stage's
    /// limit (one encoder per instance, at most 4096x2304; see
    /// docs/architecture.md). Pipelines still have to ask for it; `false`
    /// refuses it to all of them.
    pub native_h264: bool,
    /// Most functions a stage may have, counted over the component and
    /// every core module nested in it; checked before compiling (see
    /// [`crate::DEFAULT_MAX_FUNCTIONS`] for the default and why).
    pub max_functions: usize,
    /// Largest body of any one function, bytes: compile time and memory
    /// grow with it. Checked before compiling.
    pub max_function_bytes: usize,
    /// Largest sum of all function bodies, bytes. Checked before compiling.
    pub max_code_bytes: usize,
    /// Longest a stage may take to compile. Enforced when the program
    /// called [`crate::compile_worker_main`] (the CLI, serve and the shim
    /// do): the compile runs in a child process that is killed at the
    /// deadline. Without it, stages compile in this process under the
    /// static caps only. `$FRAMECHAIN_COMPILE_DEADLINE` (seconds) changes
    /// the default.
    pub compile_deadline: Duration,
    /// Heap the compile worker may use, bytes (`RLIMIT_DATA` of the child
    /// process); it fails the load with [`crate::CompileLimit::Memory`]
    /// when reached, and all of it goes back to the system when the worker
    /// exits. Only with [`crate::compile_worker_main`], like the deadline.
    /// `$FRAMECHAIN_COMPILE_MEMORY_MIB` changes the default.
    pub compile_memory_limit: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            memory_limit: 256 << 20,
            in_flight_limit: 256 << 20,
            call_timeout: Duration::from_secs(1),
            pooling: None,
            keep_resident: 0,
            cache_dir: None,
            trusted_precompiled: Vec::new(),
            max_component_bytes: DEFAULT_MAX_COMPONENT_BYTES,
            registry: StageRegistry::from_environment(),
            native_h264: true,
            max_functions: crate::compile::DEFAULT_MAX_FUNCTIONS,
            max_function_bytes: crate::compile::DEFAULT_MAX_FUNCTION_BYTES,
            max_code_bytes: crate::compile::DEFAULT_MAX_CODE_BYTES,
            // An invalid value is refused with one line by
            // compile_worker_main; an embedder without it gets the default.
            compile_deadline: crate::compile::parse_deadline_env()
                .and_then(Result::ok)
                .unwrap_or(crate::compile::DEFAULT_COMPILE_DEADLINE),
            compile_memory_limit: crate::compile::env_memory()
                .and_then(Result::ok)
                .unwrap_or(crate::compile::DEFAULT_COMPILE_MEMORY_LIMIT),
        }
    }
}

/// One wasmtime engine with its linker and compiled components. Cheap to
/// clone; all clones share the same engine and cache.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

struct EngineInner {
    wasmtime: wasmtime::Engine,
    linker: Linker<StageState>,
    config: EngineConfig,
    loaded: Mutex<HashMap<PathBuf, Arc<LoadedStage>>>,
    /// Compiles under way, by cache key: a second load of the same content
    /// waits for the first instead of compiling it again.
    compiling: Mutex<HashMap<String, Arc<Mutex<Option<Component>>>>>,
    code_settings: CodeSettings,
    /// Stages compiled (attempts), for [`Engine::compiles`].
    compiles: AtomicU64,
    ticker: EpochTicker,
}

/// A wasm page, the unit linear memories grow by.
const WASM_PAGE: u64 = 64 << 10;

use crate::compile::compile_error_reason;

/// When set (to anything), the engine writes a perf map of the compiled
/// stages, `/tmp/perf-<pid>.map`.
pub const PERFMAP_ENV: &str = "FRAMECHAIN_PERFMAP";

impl Engine {
    /// Makes the wasmtime engine with `config`'s limits, links the WASI
    /// and framechain imports, and starts the epoch clock thread.
    pub fn new(config: EngineConfig) -> Result<Engine> {
        let code_settings = CodeSettings {
            // Each slot reserves only what the memory limit allows, not
            // wasmtime's default 4 GiB plus guard: a thousand sessions of
            // four stages would otherwise reserve over 20 TiB of address
            // space. Bounds checks become explicit (a few percent of wasm
            // time; see docs/performance.md).
            pooled_reservation: config
                .pooling
                .map(|_| (config.memory_limit as u64).next_multiple_of(WASM_PAGE)),
            // For `perf`: names for the compiled stages' functions (see
            // docs/performance.md). Off by default: it writes a file per
            // process.
            perfmap: std::env::var_os(PERFMAP_ENV).is_some(),
        };
        let mut wasm_config = code_settings.wasmtime_config();
        if let Some(instances) = config.pooling {
            wasm_config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling_config(
                instances,
                config.memory_limit,
                config.keep_resident,
            )));
        }
        let wasmtime = wasmtime::Engine::new(&wasm_config).map_err(runtime)?;
        let mut linker = Linker::new(&wasmtime);
        crate::imports::add_to_linker(&mut linker).map_err(runtime)?;
        let ticker = EpochTicker::start(wasmtime.clone())?;
        Ok(Engine {
            inner: Arc::new(EngineInner {
                wasmtime,
                linker,
                config,
                loaded: Mutex::new(HashMap::new()),
                compiling: Mutex::new(HashMap::new()),
                code_settings,
                compiles: AtomicU64::new(0),
                ticker,
            }),
        })
    }

    /// The settings the engine was made with.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Where built-in stages are looked up.
    pub fn registry(&self) -> &StageRegistry {
        &self.inner.config.registry
    }

    /// What each stage instance runs under.
    pub(crate) fn instance_limits(&self) -> InstanceLimits {
        let config = &self.inner.config;
        InstanceLimits {
            memory_limit: config.memory_limit,
            call_timeout: config.call_timeout,
            native_h264: config.native_h264,
        }
    }

    /// Loads a stage by name or path: compiles it (or takes it from the
    /// cache), checks that it is a framechain stage and reads its
    /// description. Loading the same file twice returns the same stage.
    ///
    /// A name finds the stage that describes itself by that name, whatever
    /// its file is called ([`Engine::stage_path`]); two files of one folder
    /// claiming the name are refused with [`Error::StageNameClash`].
    pub fn load_stage(&self, reference: &str) -> Result<Arc<LoadedStage>> {
        self.load_stage_pinned(reference, None)
    }

    /// [`Engine::load_stage`], and with `digest` (`sha256:HEX`) the stage
    /// file's content must have that digest, or the load is refused with
    /// [`Error::DigestMismatch`]. A stage loaded earlier from the same path
    /// with other content is read again, so a pin names what runs. A file
    /// with other content is never compiled, not even to learn its name.
    pub fn load_stage_pinned(
        &self,
        reference: &str,
        digest: Option<&str>,
    ) -> Result<Arc<LoadedStage>> {
        let path = self.find_stage(reference, digest)?;
        let key = loaded_key(&path);
        self.load_path(reference, path, key, digest)
    }

    /// The file of a stage reference: a path as it is, a name to the file
    /// of the stage that describes itself by that name (see
    /// [`StageRegistry`]'s folders; the files named after it first, then
    /// every file, each described once per process). For tools that ship
    /// stage files, such as `framechain package`.
    pub fn stage_path(&self, reference: &str) -> Result<PathBuf> {
        self.find_stage(reference, None)
    }

    fn find_stage(&self, reference: &str, digest: Option<&str>) -> Result<PathBuf> {
        if crate::registry::is_path(reference) {
            return Ok(PathBuf::from(reference));
        }
        self.registry().find(reference, &mut |path| {
            self.described_name(reference, path, digest)
        })
    }

    /// The name the stage in `path` describes itself by: from the stages
    /// this engine loaded, from what this process learnt of the file (same
    /// size and modification time), or by loading it.
    fn described_name(&self, reference: &str, path: &Path, digest: Option<&str>) -> Result<String> {
        let key = loaded_key(path);
        if let Some(stage) = self.lock_loaded().get(&key)
            && digest.is_none_or(|digest| stage.digest() == digest)
        {
            return Ok(stage.name().to_owned());
        }
        let stamp = std::fs::metadata(path)
            .ok()
            .map(|meta| (meta.len(), meta.modified().ok()));
        if digest.is_none()
            && let Some(name) = described_names::get(&key, stamp)
        {
            return Ok(name);
        }
        let stage = self.load_path(reference, path.to_owned(), key.clone(), digest)?;
        described_names::put(key, stamp, stage.name());
        Ok(stage.name().to_owned())
    }

    /// Loads the stage file at `path` (`key` its [`loaded_key`]), from this
    /// engine's loaded stages when it has it with the pinned content.
    fn load_path(
        &self,
        reference: &str,
        path: PathBuf,
        key: PathBuf,
        digest: Option<&str>,
    ) -> Result<Arc<LoadedStage>> {
        let cached = self.lock_loaded().get(&key).cloned();
        match cached {
            Some(stage) if digest.is_none_or(|digest| stage.digest() == digest) => Ok(stage),
            _ => self.load_file(reference, path, key, digest),
        }
    }

    /// Reads, checks against a pinned digest, compiles and describes a
    /// stage file, and keeps it for the next load of the same path.
    fn load_file(
        &self,
        reference: &str,
        path: PathBuf,
        key: PathBuf,
        pinned: Option<&str>,
    ) -> Result<Arc<LoadedStage>> {
        let file = crate::artifacts::read_stage_file(&path, self.inner.config.max_component_bytes)?;
        let digest = crate::registry::content_digest(&file.bytes);
        // Checked before compiling: a file that is not the pinned one is
        // never compiled, never run, and never replaces the loaded one.
        if let Some(expected) = pinned {
            crate::registry::check_digest(reference, &path, expected, &digest)?;
        }
        let component = self.compile(&path, file)?;
        let pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(|error| Error::InvalidComponent {
                path: path.clone(),
                reason: compile_error_reason(&error),
            })?;
        let stage = Arc::new(LoadedStage::new(self.instance_limits(), path, digest, pre)?);
        self.lock_loaded().insert(key, stage.clone());
        Ok(stage)
    }

    /// Compiles a component ahead of time into wasmtime's serialized form,
    /// as a deployment does so that starting a pod pays no compilation.
    /// Under the same limits as loading a stage: the static caps, and the
    /// compile worker's deadline and memory limit when it is installed.
    pub fn precompile(&self, wasm: &[u8]) -> Result<Vec<u8>> {
        let path = Path::new("(component to precompile)");
        if !wasm.starts_with(b"\0asm") {
            return Err(not_wasm(path));
        }
        self.compile_limited(path, wasm)
    }

    /// How many times this engine has compiled a stage, whether it
    /// succeeded or not: loads served by the compiled-stage cache, by the
    /// engine's loaded stages or by a concurrent load of the same content
    /// do not count. For monitoring, and to show that a stage is compiled
    /// once.
    pub fn compiles(&self) -> u64 {
        self.inner.compiles.load(Ordering::Relaxed)
    }

    /// Checks the static caps, then compiles `wasm` in a worker process
    /// when the program installed the hook, or in this process.
    fn compile_limited(&self, path: &Path, wasm: &[u8]) -> Result<Vec<u8>> {
        let config = &self.inner.config;
        crate::compile::scan(
            path,
            wasm,
            crate::compile::StaticCaps {
                max_functions: config.max_functions,
                max_function_bytes: config.max_function_bytes,
                max_code_bytes: config.max_code_bytes,
            },
        )?;
        self.inner.compiles.fetch_add(1, Ordering::Relaxed);
        let start = std::time::Instant::now();
        let in_worker = crate::compile::worker_installed();
        let compiled = self.compile_unchecked(path, wasm, in_worker);
        if compiled.is_ok() {
            log::info!(
                "compiled stage {} in {} ms ({})",
                path.display(),
                start.elapsed().as_millis(),
                if in_worker && crate::compile::worker_installed() {
                    "in a compile worker process"
                } else {
                    "in this process"
                }
            );
        }
        compiled
    }

    fn compile_unchecked(&self, path: &Path, wasm: &[u8], in_worker: bool) -> Result<Vec<u8>> {
        let config = &self.inner.config;
        if in_worker {
            let compiled = crate::compile::compile_in_worker(
                path,
                wasm,
                self.inner.code_settings,
                crate::compile::WorkerLimits {
                    deadline: config.compile_deadline,
                    memory: config.compile_memory_limit,
                    max_artifact: self.max_artifact_bytes(),
                },
            );
            // A worker that cannot start in this root (a shim container)
            // never will: compile here, as without the hook.
            if compiled.is_ok() || crate::compile::worker_installed() {
                return compiled;
            }
        }
        self.inner
            .wasmtime
            .precompile_component(wasm)
            .map_err(|error| Error::InvalidComponent {
                path: path.to_owned(),
                reason: compile_error_reason(&error),
            })
    }

    /// Compiled code is larger than its wasm; this cap only keeps a planted
    /// huge cache file (or a runaway worker's reply) from being read whole.
    fn max_artifact_bytes(&self) -> usize {
        self.inner.config.max_component_bytes.saturating_mul(8)
    }

    fn lock_loaded(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Arc<LoadedStage>>> {
        // A panic while holding this lock cannot leave the map half-updated
        // (each operation is a single insert or get), so poison is ignored.
        self.inner
            .loaded
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Compiles a stage file. A precompiled file is deserialized only if
    /// the operator trusts it (`trusted_precompiled`); wasm is compiled, or
    /// taken from the signed cache.
    fn compile(&self, path: &Path, file: crate::artifacts::StageFile) -> Result<Component> {
        let config = &self.inner.config;
        let invalid = |error: wasmtime::Error| Error::InvalidComponent {
            path: path.to_owned(),
            reason: compile_error_reason(&error),
        };
        if !file.is_precompiled() && !file.bytes.starts_with(b"\0asm") {
            // wasmtime's error would quote the file's first bytes.
            return Err(not_wasm(path));
        }
        if file.is_precompiled() {
            if !crate::artifacts::is_trusted(path, &file, &config.trusted_precompiled) {
                return Err(Error::UntrustedPrecompiled {
                    path: path.to_owned(),
                });
            }
            // SAFETY: deserializing runs the file's machine code unchecked;
            // these bytes are exactly the ones read from a folder (or with a
            // content hash) the operator listed as trusted. wasmtime still
            // checks that they were compiled by a compatible engine.
            return unsafe { Component::deserialize(&self.inner.wasmtime, &file.bytes) }
                .map_err(invalid);
        }
        let bytes = file.bytes;
        let name = self.cache_key(&bytes);
        // One compile per content at a time: concurrent loads of one stage
        // (sessions starting together, a swap beside a start) wait for the
        // first and take its result, or the cache entry it stored.
        let slot = self
            .lock_compiling()
            .entry(name.clone())
            .or_default()
            .clone();
        let mut done = slot.lock().unwrap_or_else(|poison| poison.into_inner());
        let result = match &*done {
            Some(component) => Ok(component.clone()),
            None => self.compile_or_load_cached(path, &name, &bytes),
        };
        if let Ok(component) = &result {
            *done = Some(component.clone());
        }
        drop(done);
        // Waiters hold their own handle; later loads find the cache (or
        // the engine's loaded stages) instead.
        let mut compiling = self.lock_compiling();
        if compiling
            .get(&name)
            .is_some_and(|entry| Arc::ptr_eq(entry, &slot))
        {
            compiling.remove(&name);
        }
        result
    }

    /// The compiled component from the signed cache, or compiled (under
    /// the limits) and stored there.
    fn compile_or_load_cached(&self, path: &Path, name: &str, bytes: &[u8]) -> Result<Component> {
        let config = &self.inner.config;
        let invalid = |error: wasmtime::Error| Error::InvalidComponent {
            path: path.to_owned(),
            reason: compile_error_reason(&error),
        };
        let cache = config.cache_dir.as_deref().and_then(Cache::open);
        if let Some(artifact) = cache
            .as_ref()
            .and_then(|cache| cache.load(name, self.max_artifact_bytes()))
        {
            // SAFETY: `load` returns only bytes whose tag proves this
            // installation compiled them from this very wasm (the name is
            // the hash of the wasm and of the engine settings, and is part
            // of the signed data). A stale artifact fails wasmtime's
            // compatibility check and is compiled again below.
            if let Ok(component) =
                unsafe { Component::deserialize(&self.inner.wasmtime, &artifact) }
            {
                return Ok(component);
            }
        }
        let compiled = self.compile_limited(path, bytes)?;
        if let Some(cache) = &cache {
            cache.store(name, &compiled);
        }
        // SAFETY: `compiled` was produced by this installation's compiler
        // from `bytes`, in this process or in its compile worker (the same
        // executable; see compile::compile_in_worker), with this engine's
        // code settings; wasmtime still checks that they match.
        unsafe { Component::deserialize(&self.inner.wasmtime, &compiled) }.map_err(invalid)
    }

    fn lock_compiling(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Mutex<Option<Component>>>>> {
        // Single inserts and removes: poison cannot leave it inconsistent.
        self.inner
            .compiling
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn cache_key(&self, wasm: &[u8]) -> String {
        use sha2::Digest;
        use std::hash::{Hash, Hasher};
        let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
        self.inner
            .wasmtime
            .precompile_compatibility_hash()
            .hash(&mut engine_hash);
        let digest = sha2::Sha256::digest(wasm);
        let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
        format!("{hex}-{:016x}.cwasm", engine_hash.finish())
    }
}

impl Drop for EngineInner {
    fn drop(&mut self) {
        self.ticker.stop();
    }
}

fn pooling_config(
    instances: u32,
    memory_limit: usize,
    keep_resident: usize,
) -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::default();
    // A Rust stage component holds a handful of core instances (its module
    // and the canonical-ABI glue); 16 per component leaves ample room.
    pool.total_component_instances(instances)
        .total_core_instances(instances.saturating_mul(16))
        .total_memories(instances.saturating_mul(2))
        .total_tables(instances.saturating_mul(8))
        .max_memory_size(memory_limit)
        .linear_memory_keep_resident(keep_resident.min(memory_limit));
    pool
}

/// The refusal of a file that is not wasm: wasmtime's own error would
/// quote the file's first bytes.
fn not_wasm(path: &Path) -> Error {
    Error::InvalidComponent {
        path: path.to_owned(),
        reason: "it is not WebAssembly (a .wasm file starts with \\0asm)".into(),
    }
}

pub(crate) fn runtime(error: wasmtime::Error) -> Error {
    Error::Runtime(format!("{error:#}"))
}

/// A thread that advances the engine's epoch every [`EPOCH_TICK`]; a call
/// whose deadline (in ticks) passes is interrupted.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: wasmtime::Engine) -> Result<EpochTicker> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("framechain-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .map_err(|error| {
                Error::Runtime(format!("cannot start the epoch clock thread: {error}"))
            })?;
        Ok(EpochTicker {
            stop,
            thread: Some(thread),
        })
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The key of a stage file among the loaded ones (and the names learnt):
/// its canonical path, so two spellings of one file are one stage.
fn loaded_key(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

/// What this process learnt of stage files' names, so that looking a name
/// up does not describe the same file again for every engine (the
/// integration tests and a server make many). Keyed by canonical path and
/// checked against the file's size and modification time.
mod described_names {
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};
    use std::sync::{LazyLock, Mutex, MutexGuard};
    use std::time::SystemTime;

    /// A file's size and modification time, when they can be read.
    pub(super) type Stamp = Option<(u64, Option<SystemTime>)>;

    static NAMES: LazyLock<Mutex<HashMap<PathBuf, (Stamp, String)>>> =
        LazyLock::new(Default::default);

    fn lock() -> MutexGuard<'static, HashMap<PathBuf, (Stamp, String)>> {
        // Single inserts and reads: a panic cannot leave it half-updated.
        NAMES.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    pub(super) fn get(path: &Path, stamp: Stamp) -> Option<String> {
        let names = lock();
        let (known, name) = names.get(path)?;
        (stamp.is_some() && *known == stamp).then(|| name.clone())
    }

    pub(super) fn put(path: PathBuf, stamp: Stamp, name: &str) {
        if stamp.is_some() {
            lock().insert(path, (stamp, name.to_owned()));
        }
    }
}
