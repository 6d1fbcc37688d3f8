//! What each stage instance's wasmtime `Store` holds, and the host side of
//! the WIT imports (`frame`, `log`) a stage calls.

use std::sync::Arc;

use wasmtime::component::{Resource, ResourceTable};
use wasmtime::{ResourceLimiter, Result};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::LogLevel;
use crate::bindings::types::{self, FrameError, FrameInfo, PixelFormat, Plane, Rect, Region};
use crate::frame::Frame;
use crate::native_h264::NativeH264State;

/// How much of a stage's stderr is kept to explain a trap (a Rust panic
/// message lands there just before the trap).
const STDERR_CAPACITY: usize = 64 * 1024;

/// Log lines a stage may write per call; more are counted, not printed, so
/// a stage cannot flood the node's log.
const LOG_LINES_PER_CALL: u32 = 64;

/// The per-instance state behind one stage of one session.
pub(crate) struct StageState {
    wasi: WasiCtx,
    table: ResourceTable,
    stderr: MemoryOutputPipe,
    pub(crate) memory: MemoryCap,
    /// Bytes of frames the stage holds in its resource table. Frames live in
    /// host memory, outside the linear-memory limit, so they get a budget of
    /// their own or a stage could exhaust the node through `frame.create`.
    frame_bytes: usize,
    frame_budget: usize,
    /// Name of the stage and the session, for log lines.
    pub(crate) label: Arc<str>,
    log_lines_this_call: u32,
    pub(crate) suppressed_log_lines: u64,
    /// The `native-h264` import: whether it may be used, encoders held.
    pub(crate) native_h264: NativeH264State,
}

impl StageState {
    /// A state with no WASI capabilities beyond clocks and randomness: no
    /// files, no network, no environment, no arguments, no stdin.
    /// `native_h264`: whether the stage may make native encoders.
    pub(crate) fn new(label: Arc<str>, memory_limit: usize, native_h264: bool) -> StageState {
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
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
            frame_bytes: 0,
            frame_budget: memory_limit,
            label,
            log_lines_this_call: 0,
            suppressed_log_lines: 0,
            native_h264: NativeH264State::new(native_h264),
        }
    }

    /// Hands a frame to the stage, returning its handle.
    /// Fails the call (a memory overrun) if `bytes` more of frames would
    /// exceed the stage's frame budget.
    fn admit_frame_bytes(&mut self, bytes: usize) -> Result<()> {
        if self.frame_bytes + bytes > self.frame_budget {
            self.memory.exceeded = true;
            wasmtime::bail!(
                "frames held by the stage would exceed its memory limit of {} MiB",
                self.frame_budget >> 20
            );
        }
        Ok(())
    }

    pub(crate) fn insert_frame(&mut self, frame: Frame) -> Result<Resource<Frame>> {
        self.frame_bytes += frame.byte_len();
        Ok(self.table.push(frame)?)
    }

    /// Takes back a frame the stage returned.
    pub(crate) fn take_frame(&mut self, handle: Resource<Frame>) -> Result<Frame> {
        let frame = self.table.delete(handle)?;
        self.frame_bytes = self.frame_bytes.saturating_sub(frame.byte_len());
        Ok(frame)
    }

    /// Called before each call into the stage.
    pub(crate) fn start_call(&mut self) {
        self.log_lines_this_call = 0;
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
        Some(format!("{} {message}", location.trim()).trim().to_owned())
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
        self.admit_frame_bytes(bytes)?;
        match Frame::black(width, height) {
            Ok(frame) => Ok(Ok(self.insert_frame(frame)?)),
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
        let frame = match Frame::from_planes(width, height, [y, u, v]) {
            Ok(frame) => frame,
            Err(error) => return Ok(Err(error)),
        };
        self.admit_frame_bytes(frame.byte_len())?;
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
        Ok(self.frame(&handle)?.plane(plane).to_vec())
    }

    fn write_plane(
        &mut self,
        handle: Resource<Frame>,
        plane: Plane,
        data: Vec<u8>,
    ) -> Result<Result<(), FrameError>> {
        Ok(self.frame_mut(&handle)?.replace_plane(plane, data))
    }

    fn read_rect(
        &mut self,
        handle: Resource<Frame>,
        plane: Plane,
        area: Rect,
    ) -> Result<Result<Vec<u8>, FrameError>> {
        Ok(self.frame(&handle)?.read_rect(plane, area))
    }

    fn write_rect(
        &mut self,
        handle: Resource<Frame>,
        plane: Plane,
        area: Rect,
        data: Vec<u8>,
    ) -> Result<Result<(), FrameError>> {
        Ok(self.frame_mut(&handle)?.write_rect(plane, area, &data))
    }

    fn fill_rect(
        &mut self,
        handle: Resource<Frame>,
        plane: Plane,
        area: Rect,
        value: u8,
    ) -> Result<Result<(), FrameError>> {
        Ok(self.frame_mut(&handle)?.fill_rect(plane, area, value))
    }

    fn regions(&mut self, handle: Resource<Frame>) -> Result<Vec<Region>> {
        Ok(self.frame(&handle)?.regions.clone())
    }

    fn set_regions(&mut self, handle: Resource<Frame>, regions: Vec<Region>) -> Result<()> {
        self.frame_mut(&handle)?.regions = regions;
        Ok(())
    }

    fn add_region(&mut self, handle: Resource<Frame>, region: Region) -> Result<()> {
        self.frame_mut(&handle)?.regions.push(region);
        Ok(())
    }

    fn copy_metadata(&mut self, handle: Resource<Frame>, source: Resource<Frame>) -> Result<()> {
        // Two entries of one table cannot be borrowed at once: copy out, then in.
        let metadata = self.frame(&source)?.metadata();
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
        self.log_lines_this_call += 1;
        if self.log_lines_this_call > LOG_LINES_PER_CALL {
            self.suppressed_log_lines += 1;
            return Ok(());
        }
        let level = match level {
            LogLevel::Trace => log::Level::Trace,
            LogLevel::Debug => log::Level::Debug,
            LogLevel::Info => log::Level::Info,
            LogLevel::Warn => log::Level::Warn,
            LogLevel::Error => log::Level::Error,
        };
        log::log!(target: "framechain::stage", level, "[{}] {}", self.label, message);
        Ok(())
    }
}
