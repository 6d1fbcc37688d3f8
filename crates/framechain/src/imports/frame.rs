//! The `frame` resource a stage calls: every method reads or changes a
//! host-owned [`Frame`] in the stage's resource table, charged to its
//! budget and bounded by its call's time.

use wasmtime::component::Resource;
use wasmtime::{Result, Trap};

use crate::bindings::types::{self, FrameError, FrameInfo, PixelFormat, Plane, Rect, Region};
use crate::frame::Frame;
use crate::frame::wit_frame_error;
use crate::limits::{MAX_LABEL_BYTES, MAX_REGIONS_PER_FRAME};
use crate::stage_state::StageState;

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
            Err(error) => return Ok(Err(wit_frame_error(error))),
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
            Err(error) => Ok(Err(wit_frame_error(error))),
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
            Err(error) => return Ok(Err(wit_frame_error(error))),
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
        Ok(self
            .frame_mut(&handle)?
            .replace_plane(plane, data)
            .map_err(wit_frame_error))
    }

    fn read_rect(
        &mut self,
        handle: Resource<Frame>,
        plane: Plane,
        area: Rect,
    ) -> Result<Result<Vec<u8>, FrameError>> {
        self.check_deadline()?;
        Ok(self
            .frame(&handle)?
            .read_rect(plane, area)
            .map_err(wit_frame_error))
    }

    fn write_rect(
        &mut self,
        handle: Resource<Frame>,
        plane: Plane,
        area: Rect,
        data: Vec<u8>,
    ) -> Result<Result<(), FrameError>> {
        self.check_deadline()?;
        Ok(self
            .frame_mut(&handle)?
            .write_rect(plane, area, &data)
            .map_err(wit_frame_error))
    }

    fn fill_rect(
        &mut self,
        handle: Resource<Frame>,
        plane: Plane,
        area: Rect,
        value: u8,
    ) -> Result<Result<(), FrameError>> {
        self.check_deadline()?;
        Ok(self
            .frame_mut(&handle)?
            .fill_rect(plane, area, value)
            .map_err(wit_frame_error))
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
