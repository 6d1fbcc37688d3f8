//! What each stage instance's wasmtime `Store` holds: its WASI context and
//! resource table, its host budget, the clock of the call in progress, and
//! its log allowance. The WIT imports that act on it are in
//! [`crate::imports`].

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{Resource, ResourceTable};
use wasmtime::{ResourceLimiter, Result, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::LogLevel;
use crate::bindings::types::Region;
use crate::call_clock::CallClock;
use crate::frame::Frame;
use crate::limits::{LOG_LINES_PER_CALL, LOG_LINES_PER_SESSION};
use crate::native_h264::NativeH264State;
use crate::stderr::StageStderr;
use crate::text;

/// The per-instance state behind one stage of one session.
pub(crate) struct StageState {
    wasi: WasiCtx,
    table: ResourceTable,
    stderr: StageStderr,
    pub(crate) memory: MemoryCap,
    /// Bytes the host holds for this stage: the frames in its resource
    /// table with their regions, and its native encoders. They live in host
    /// memory, outside the linear-memory limit, so they get a budget of
    /// their own or a stage could exhaust the node through `frame.create`,
    /// `add-region` or `copy-metadata`.
    host_bytes: usize,
    host_budget: usize,
    /// Frame handles in the resource table.
    frames_held: u64,
    /// Largest `host_bytes` seen, for tests and reports.
    pub(crate) peak_host_bytes: usize,
    /// Name of the stage and the session, for log lines.
    pub(crate) label: Arc<str>,
    log_lines_this_call: u32,
    log_lines_total: u64,
    pub(crate) suppressed_log_lines: u64,
    /// The current call's time used against its limit (CPU time plus
    /// waits, see [`CallClock`]). Wasm code is checked by the epoch
    /// callback; host code (WASI waits, long frame operations) checks it.
    pub(crate) clock: CallClock,
    /// Set when the call was stopped for reaching its time limit.
    pub(crate) deadline_passed: bool,
    /// Set when the stage broke a fixed limit (region count, label length):
    /// the reason, for the session's error.
    pub(crate) limit_broken: Option<String>,
    /// The `native-h264` import: whether it may be used, encoders held.
    pub(crate) native_h264: NativeH264State,
}

impl StageState {
    /// A state with no WASI capabilities beyond clocks and randomness: no
    /// files, no network, no environment, no arguments, no stdin.
    /// `native_h264`: whether the stage may make native encoders.
    pub(crate) fn new(label: Arc<str>, memory_limit: usize, native_h264: bool) -> StageState {
        let stderr = StageStderr::default();
        let wasi = WasiCtx::builder()
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        StageState {
            wasi,
            table: ResourceTable::new(),
            stderr,
            memory: MemoryCap {
                limit: memory_limit,
                exceeded: false,
                linear_bytes: 0,
            },
            host_bytes: 0,
            host_budget: memory_limit,
            frames_held: 0,
            peak_host_bytes: 0,
            label,
            log_lines_this_call: 0,
            log_lines_total: 0,
            suppressed_log_lines: 0,
            clock: CallClock::idle(),
            deadline_passed: false,
            limit_broken: None,
            native_h264: NativeH264State::new(native_h264),
        }
    }

    /// Charges `bytes` more to the stage's host budget, or fails the call
    /// as a memory overrun.
    pub(crate) fn charge(&mut self, bytes: usize) -> Result<()> {
        let total = self.host_bytes.saturating_add(bytes);
        if total > self.host_budget {
            self.memory.exceeded = true;
            wasmtime::bail!(
                "what the host holds for the stage would exceed its memory limit of {} MiB",
                self.host_budget >> 20
            );
        }
        self.host_bytes = total;
        self.peak_host_bytes = self.peak_host_bytes.max(total);
        Ok(())
    }

    /// Charges `bytes` if they fit the budget; `false` (and nothing
    /// charged) if not, for requests a stage may be refused without failing.
    pub(crate) fn try_charge(&mut self, bytes: usize) -> bool {
        let total = self.host_bytes.saturating_add(bytes);
        if total > self.host_budget {
            return false;
        }
        self.host_bytes = total;
        self.peak_host_bytes = self.peak_host_bytes.max(total);
        true
    }

    /// Returns `bytes` charged earlier.
    pub(crate) fn release(&mut self, bytes: usize) {
        self.host_bytes = self.host_bytes.saturating_sub(bytes);
    }

    /// Bytes the host holds for the stage now.
    pub(crate) fn host_bytes(&self) -> usize {
        self.host_bytes
    }

    /// Hands a frame to the stage, returning its handle. The frame is
    /// charged to the stage's budget first: an input too large for the
    /// stage fails the call before the stage sees it.
    pub(crate) fn insert_frame(&mut self, frame: Frame) -> Result<Resource<Frame>> {
        self.charge(frame.held_bytes())?;
        let handle = self.table.push(frame)?;
        self.frames_held += 1;
        Ok(handle)
    }

    /// Takes back a frame the stage returned or dropped.
    pub(crate) fn take_frame(&mut self, handle: Resource<Frame>) -> Result<Frame> {
        let frame = self.table.delete(handle)?;
        self.frames_held -= 1;
        self.release(frame.held_bytes());
        Ok(frame)
    }

    /// Called before each call into the stage (and before instantiation):
    /// a fresh log allowance and the time limit, counted from now on the
    /// calling thread.
    pub(crate) fn start_call(&mut self, timeout: Duration) {
        self.log_lines_this_call = 0;
        self.clock = CallClock::start(timeout);
    }

    /// Fails the call if it has used up its time. Host functions that can
    /// take long call it, so the time limit holds in host code too.
    pub(crate) fn check_deadline(&mut self) -> Result<()> {
        if self.clock.expired() {
            self.deadline_passed = true;
            return Err(Trap::Interrupt.into());
        }
        Ok(())
    }

    /// The wall-clock instant by which host work started now must end:
    /// now plus what is left of the call's time.
    pub(crate) fn deadline(&self) -> std::time::Instant {
        self.clock.wall_deadline()
    }

    /// Fails the call because the stage broke a fixed limit.
    pub(crate) fn break_limit(&mut self, reason: String) -> wasmtime::Error {
        let error = wasmtime::format_err!("{reason}");
        self.limit_broken = Some(reason);
        error
    }

    /// Checks a frame's new region list against the caps and charges the
    /// change in its size. `old` is what the frame carried before.
    pub(crate) fn recharge_regions(&mut self, old: &[Region], new: &[Region]) -> Result<()> {
        if let Err(violation) =
            framechain_frame::check_regions(new.iter().map(|region| region.label.len()))
        {
            return Err(self.break_limit(violation.to_string()));
        }
        let (old, new) = (
            crate::frame::regions_bytes(old),
            crate::frame::regions_bytes(new),
        );
        if new > old {
            self.charge(new - old)
        } else {
            self.release(old - new);
            Ok(())
        }
    }

    /// Frames the stage holds now (handles in its resource table).
    pub(crate) fn frames_held(&self) -> u64 {
        self.frames_held
    }

    pub(crate) fn table_mut(&mut self) -> &mut ResourceTable {
        &mut self.table
    }

    /// The panic message the stage printed to stderr before it trapped,
    /// as one line: `panicked at src/lib.rs:10:5: the message`.
    pub(crate) fn panic_message(&self) -> Option<String> {
        let contents = self.stderr.contents();
        let text = String::from_utf8_lossy(&contents);
        let mut lines = text
            .lines()
            .skip_while(|line| !line.contains("panicked at"));
        let location = lines.next()?;
        let location = &location[location.find("panicked at")?..];
        let message = lines.next().unwrap_or("").trim();
        let line = format!("{} {message}", location.trim());
        Some(text::untrusted(line.trim(), text::MAX_MESSAGE_CHARS))
    }

    /// The frame behind a handle the stage passed; a handle it does not
    /// own traps the stage.
    pub(crate) fn frame(&self, handle: &Resource<Frame>) -> Result<&Frame> {
        Ok(self.table.get(handle)?)
    }

    /// [`StageState::frame`], to change it.
    pub(crate) fn frame_mut(&mut self, handle: &Resource<Frame>) -> Result<&mut Frame> {
        Ok(self.table.get_mut(handle)?)
    }
}

impl WasiView for StageState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Caps a stage's linear memory and remembers that the cap was hit, so a
/// failed allocation can be reported as "memory limit" rather than a bare
/// trap.
pub(crate) struct MemoryCap {
    pub(crate) limit: usize,
    pub(crate) exceeded: bool,
    /// Linear memory the instance has now, all its memories together (a
    /// memory only grows, so each growth adds its difference).
    pub(crate) linear_bytes: usize,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> Result<bool> {
        if desired > self.limit {
            self.exceeded = true;
            return Ok(false);
        }
        self.linear_bytes += desired.saturating_sub(current);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> Result<bool> {
        // A table entry is a pointer; a million of them is far beyond what any
        // stage needs and still bounded.
        Ok(desired <= 1 << 20)
    }
}

impl StageState {
    /// One log line from the stage: counted against its allowances, then
    /// escaped and cut before it reaches the host's log.
    pub(crate) fn log_line(&mut self, level: LogLevel, message: &str) {
        self.log_lines_this_call = self.log_lines_this_call.saturating_add(1);
        self.log_lines_total += 1;
        if self.log_lines_this_call > LOG_LINES_PER_CALL
            || self.log_lines_total > LOG_LINES_PER_SESSION
        {
            self.suppressed_log_lines += 1;
            return;
        }
        let message = text::untrusted(message, text::MAX_MESSAGE_CHARS);
        let level = match level {
            LogLevel::Trace => log::Level::Trace,
            LogLevel::Debug => log::Level::Debug,
            LogLevel::Info => log::Level::Info,
            LogLevel::Warn => log::Level::Warn,
            LogLevel::Error => log::Level::Error,
        };
        log::log!(target: "framechain::stage", level, "[{}] {}", self.label, message);
    }
}
