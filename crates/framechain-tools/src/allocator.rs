//! Process-wide allocator settings for programs that move video frames.
//!
//! glibc serves an allocation above its mmap threshold (128 KiB at first,
//! raised to the size of the largest block freed so far, at most 32 MiB)
//! with a fresh mapping and unmaps it on free, and it gives memory at the top
//! of its heap back to the kernel. A 1080p I420 frame is 3 MB, and every frame
//! that crosses a stage boundary is a new buffer; with the defaults each
//! frame's pages were faulted in anew: about 950 page faults per frame through
//! `decode-h264 ! scale`, roughly 8% of the run.
//!
//! [`keep_frame_buffers`] makes glibc keep such blocks in its heap for reuse.
//! The CLI and the containerd shim call it at start-up; a media server that
//! embeds framechain may call it too, or tune its own allocator. It costs
//! memory that stays mapped after a burst (the heap is not trimmed below
//! [`TRIM_THRESHOLD`] of free space), which a long-running server reuses.

/// Blocks up to this size come from the heap instead of their own mapping:
/// room for a 4K frame (12 MB) and the larger planes stages copy.
pub const MMAP_THRESHOLD: usize = 64 << 20;

/// Free space the heap may keep at its top before giving it back.
pub const TRIM_THRESHOLD: usize = 512 << 20;

/// Sets glibc's `M_MMAP_THRESHOLD` and `M_TRIM_THRESHOLD` (see the module
/// documentation). Returns false where there is nothing to set: another C
/// library, or an allocator that is not glibc's.
pub fn keep_frame_buffers() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes glibc's malloc parameters; it is
        // thread-safe and takes plain integers.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD as libc::c_int) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_accepts_the_settings() {
        assert!(super::keep_frame_buffers());
    }
}
