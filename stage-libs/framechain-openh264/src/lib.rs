//! OpenH264, compiled from source for wasm32-wasip2 components (and for the
//! host, so it can be tested natively), behind a small safe API: a
//! [`Decoder`] fed one Annex-B NAL unit at a time and an [`Encoder`] that
//! turns packed I420 pictures into Annex-B access units.
//!
//! The build script compiles the OpenH264 release bundled in the
//! `openh264-sys2` crate's registry copy plus a C shim of our own
//! (`shim/openh264_c.cpp`) that turns OpenH264's vtable-based C++ interfaces
//! into plain C functions. No OpenH264 code lives in this repository.
//!
//! Everything here is single-threaded, as a component is.
//!
//! # Building
//!
//! `cargo build --release --target wasm32-wasip2 -p framechain-decode-h264`
//! (or any crate depending on this one) does everything; it needs:
//!
//! - Debian packages `clang-19 lld-19 wasi-libc libc++-19-dev-wasm32
//!   libc++abi-19-dev-wasm32 libclang-rt-19-dev-wasm32` (`scripts/setup.sh`)
//!   and an `llvm-ar` (Debian's `llvm`, in the base image, or `llvm-19`).
//! - crates.io access once: cargo downloads `openh264-sys2` (a build
//!   dependency that compiles nothing) and `build/locate.rs` finds its
//!   `upstream/` directory under `$CARGO_HOME/registry/src`.
//!
//! Optional environment: `FRAMECHAIN_OPENH264_SRC` (an OpenH264 tree to use
//! instead, e.g. for offline or vendored builds), `FRAMECHAIN_WASM_CXX`
//! (default `clang++-19`), `FRAMECHAIN_WASM_AR` (default: the first
//! `llvm-ar` on `PATH`). Native builds (tests, and the host's optional
//! native encoder) use the host's C++ compiler and need none of this; on
//! x86-64 Linux they also assemble OpenH264's SIMD assembly with `nasm`
//! (Debian's `nasm`; about 3x faster encoding), falling back to the
//! portable C++ with a warning when it is missing
//! (`FRAMECHAIN_OPENH264_NO_ASM=1` forces that, `FRAMECHAIN_NASM` picks
//! the assembler; see `build/asm.rs` and [`NATIVE_ASM`]). The C++ flags for
//! wasm and why are in `build/toolchain.rs`.

#![deny(missing_docs)]

mod decoder;
mod encoder;
mod ffi;
pub mod log;

pub use decoder::{DecodeStatus, Decoded, Decoder, DecoderOptions, I420, PictureRef};
pub use encoder::{
    Complexity, Encoded, Encoder, EncoderConfig, FrameKind, MIN_SIZE, Profile, RateControl,
};

/// True when this build of OpenH264 uses its x86 assembly (native x86-64
/// Linux builds with `nasm`; see `build/asm.rs`). Always false in wasm.
pub const NATIVE_ASM: bool = cfg!(framechain_openh264_asm);

/// A codec failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// OpenH264 could not make or configure a codec.
    Create(String),
    /// The input has a shape the codec cannot handle.
    Unsupported(String),
    /// Encoding a picture failed.
    Encode(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Create(m) | Error::Unsupported(m) | Error::Encode(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}
