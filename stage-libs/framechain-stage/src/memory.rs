//! Memory made ready before it is needed.
//!
//! A fresh instance's linear memory is mapped in by the host page by page,
//! as the stage first writes to it; a codec that allocates its picture
//! buffers at its first picture pays for that growth and those page faults
//! there (issue 20: about half of the extra cost of a session's first
//! 1080p picture). [`prefault`] pays it in `create`, which the host runs
//! before the session's first input arrives.

/// Host pages are 4 KiB; touching one byte of each maps all of it.
const HOST_PAGE: usize = 4096;

/// Grows the heap by `bytes`, writes one byte of every page of it, and
/// hands it back to the allocator, which keeps it for the allocations
/// that follow (a linear memory never shrinks, and the allocator does not
/// give memory back to it): they then find their pages already mapped.
/// Call it in `create` with what the stage's first picture will allocate,
/// no more, since every byte of it stays resident for the instance's
/// life. Fails, with the reason, when the stage's memory limit does not
/// allow that much; the memory is the instance's own, as any other.
pub fn prefault(bytes: usize) -> Result<(), String> {
    let mut block: Vec<u8> = Vec::new();
    block.try_reserve_exact(bytes).map_err(|_| {
        format!(
            "cannot make {} MiB of memory ready (more than the stage may use)",
            bytes.div_ceil(1 << 20)
        )
    })?;
    let base = block.as_mut_ptr();
    for offset in (0..bytes).step_by(HOST_PAGE) {
        // SAFETY: `offset < bytes <= capacity`: inside the block reserved
        // above. A volatile write, so the touch is not optimised away.
        unsafe { base.add(offset).write_volatile(0) };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn prefault_reserves_and_gives_back() {
        super::prefault(8 << 20).unwrap();
        super::prefault(0).unwrap();
        assert!(super::prefault(usize::MAX / 2).is_err());
    }
}
