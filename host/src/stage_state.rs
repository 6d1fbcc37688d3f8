//! What each stage instance's wasmtime `Store` holds, and the host side of
//! the WIT imports (`frame`, `log`) a stage calls.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{Resource, ResourceTable};
use wasmtime::{ResourceLimiter, Result, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::LogLevel;
use crate::call_clock::CallClock;
use crate::bindings::types::{self, FrameError, FrameInfo, PixelFormat, Plane, Rect, Region};
use crate::frame::Frame;
use crate::limits::{
    LOG_LINES_PER_CALL, LOG_LINES_PER_SESSION, MAX_LABEL_BYTES, MAX_REGIONS_PER_FRAME,
};
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
    fn recharge_regions(&mut self, old: &[Region], new: &[Region]) -> Result<()> {
        if new.len() > MAX_REGIONS_PER_FRAME {
            return Err(self.break_limit(format!(
                "a frame may carry at most {MAX_REGIONS_PER_FRAME} regions, the stage gave it {}",
                new.len()
            )));
        }
        if let Some(long) = new.iter().find(|r| r.label.len() > MAX_LABEL_BYTES) {
            return Err(self.break_limit(format!(
                "a region label may be at most {MAX_LABEL_BYTES} bytes, the stage gave one of {}",
                long.label.len()
            )));
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

    fn frame(&self, handle: &Resource<Frame>) -> Result<&Frame> {
        Ok(self.table.get(handle)?)
    }

    fn frame_mut(&mut self, handle: &Resource<Frame>) -> Result<&mut Frame> {
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
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> Result<bool> {
        if desired > self.limit {
            self.exceeded = true;
            return Ok(false);
        }
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

impl types::Host for StageState {}

impl types::HostFrame for StageState {
    fn create(
        &mut self,
        width: u32,
        height: u32,
        _format: PixelFormat,
    ) -> Result<Result<Resource<Frame>, FrameError>> {
        // Check the budget before allocating: a side may be up to 16384.
        let bytes = match Frame::byte_len_for(width, height) {
            Ok(bytes) => bytes,
            Err(error) => return Ok(Err(error)),
        };
        self.check_deadline()?;
        self.charge(bytes)?;
        let deadline = self.deadline();
        // Filling a large frame takes a while (400 MB at 16384x16384): it
        // is done in pieces that each check the call's deadline.
        let made = Frame::black_by(width, height, deadline);
        self.release(bytes);
        match made {
            Ok(Some(frame)) => Ok(Ok(self.insert_frame(frame)?)),
            Ok(None) => {
                self.deadline_passed = true;
                Err(Trap::Interrupt.into())
            }
            Err(error) => Ok(Err(error)),
        }
    }

    fn from_planes(
        &mut self,
        width: u32,
        height: u32,
        y: Vec<u8>,
        u: Vec<u8>,
        v: Vec<u8>,
    ) -> Result<Result<Resource<Frame>, FrameError>> {
        self.check_deadline()?;
        let frame = match Frame::from_planes(width, height, [y, u, v]) {
            Ok(frame) => frame,
            Err(error) => return Ok(Err(error)),
        };
        Ok(Ok(self.insert_frame(frame)?))
    }

    fn info(&mut self, handle: Resource<Frame>) -> Result<FrameInfo> {
        let frame = self.frame(&handle)?;
        Ok(FrameInfo {
            width: frame.width(),
            height: frame.height(),
            format: PixelFormat::I420,
            pts: frame.pts,
            duration: frame.duration,
            keyframe: frame.keyframe,
        })
    }

    fn set_timing(
        &mut self,
        handle: Resource<Frame>,
        pts: i64,
        duration: i64,
        keyframe: bool,
    ) -> Result<()> {
        let frame = self.frame_mut(&handle)?;
        frame.pts = pts;
        frame.duration = duration;
        frame.keyframe = keyframe;
        Ok(())
    }

    fn plane_size(&mut self, handle: Resource<Frame>, plane: Plane) -> Result<(u32, u32)> {
        Ok(self.frame(&handle)?.plane_size(plane))
    }

    fn read_plane(&mut self, handle: Resource<Frame>, plane: Plane) -> Result<Vec<u8>> {
        self.check_deadline()?;
        Ok(self.frame(&handle)?.plane(plane).to_vec())
    }

    fn write_plane(
        &mut self,
        handle: Resource<Frame>,
        plane: Plane,
        data: Vec<u8>,
    ) -> Result<Result<(), FrameError>> {
        self.check_deadline()?;
        Ok(self.frame_mut(&handle)?.replace_plane(plane, data))
    }

    fn read_rect(
        &mut self,
        handle: Resource<Frame>,
        plane: Plane,
        area: Rect,
    ) -> Result<Result<Vec<u8>, FrameError>> {
        self.check_deadline()?;
        Ok(self.frame(&handle)?.read_rect(plane, area))
    }

    fn write_rect(
        &mut self,
        handle: Resource<Frame>,
        plane: Plane,
        area: Rect,
        data: Vec<u8>,
    ) -> Result<Result<(), FrameError>> {
        self.check_deadline()?;
        Ok(self.frame_mut(&handle)?.write_rect(plane, area, &data))
    }

    fn fill_rect(
        &mut self,
        handle: Resource<Frame>,
        plane: Plane,
        area: Rect,
        value: u8,
    ) -> Result<Result<(), FrameError>> {
        self.check_deadline()?;
        Ok(self.frame_mut(&handle)?.fill_rect(plane, area, value))
    }

    fn regions(&mut self, handle: Resource<Frame>) -> Result<Vec<Region>> {
        Ok(self.frame(&handle)?.regions.clone())
    }

    fn set_regions(&mut self, handle: Resource<Frame>, regions: Vec<Region>) -> Result<()> {
        let old = std::mem::take(&mut self.frame_mut(&handle)?.regions);
        let checked = self.recharge_regions(&old, &regions);
        // On failure the frame keeps what it had (and was charged for).
        self.frame_mut(&handle)?.regions = if checked.is_ok() { regions } else { old };
        checked
    }

    fn add_region(&mut self, handle: Resource<Frame>, region: Region) -> Result<()> {
        let frame = self.frame(&handle)?;
        if frame.regions.len() >= MAX_REGIONS_PER_FRAME || region.label.len() > MAX_LABEL_BYTES {
            // Let the full check word the error.
            let mut regions = frame.regions.clone();
            regions.push(region);
            let old = frame.regions.clone();
            return self.recharge_regions(&old, &regions);
        }
        self.recharge_regions(&[], std::slice::from_ref(&region))?;
        self.frame_mut(&handle)?.regions.push(region);
        Ok(())
    }

    fn copy_metadata(&mut self, handle: Resource<Frame>, source: Resource<Frame>) -> Result<()> {
        // Two entries of one table cannot be borrowed at once: copy out, then in.
        let metadata = self.frame(&source)?.metadata();
        let old = std::mem::take(&mut self.frame_mut(&handle)?.regions);
        if let Err(error) = self.recharge_regions(&old, &metadata.regions) {
            self.frame_mut(&handle)?.regions = old;
            return Err(error);
        }
        self.frame_mut(&handle)?.set_metadata(metadata);
        Ok(())
    }

    fn drop(&mut self, handle: Resource<Frame>) -> Result<()> {
        self.take_frame(handle)?;
        Ok(())
    }
}

impl crate::bindings::framechain::stage::log::Host for StageState {
    fn log(&mut self, level: LogLevel, message: String) -> Result<()> {
        self.log_line(level, &message);
        Ok(())
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
