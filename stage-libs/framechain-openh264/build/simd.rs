//! wasm32 only: puts framechain's wasm SIMD kernels (the `simd/` folder of
//! this crate) in place of OpenH264's portable C ones, without changing a
//! line of OpenH264.
//!
//! OpenH264 reaches its hot kernels (motion compensation, deblocking, IDCT,
//! SAD/SATD, DCT, quantisation) through function-pointer tables that init
//! functions fill per CPU. Those know x86, ARM, MIPS and LoongArch; on wasm
//! they choose the scalar C versions. A function defined in one translation
//! unit and referenced from another can be redirected by a preprocessor
//! rename applied only where it is referenced: the reference then names our
//! function, while the original definition is still compiled, so our code
//! can call it (an init wrapper calls the original init, then replaces some
//! pointers) or fall back to it.
//!
//! `simd/<part>/*.cpp` is compiled into that part (same include paths and
//! renames), so a hook that needs, say, the decoder's private headers lives
//! in `simd/decoder/`.

use std::path::{Path, PathBuf};

/// Where a rename applies.
pub enum Scope {
    /// Every file of a part (see `PARTS` in main.rs), and `simd/<part>/`.
    Part(&'static str),
    /// One OpenH264 source file, by its path under the source root.
    File(&'static str),
}

/// `-D<from>=<to>` within `scope`.
pub struct Rename {
    pub scope: Scope,
    pub from: &'static str,
    pub to: &'static str,
}

const fn part(name: &'static str, from: &'static str, to: &'static str) -> Rename {
    Rename {
        scope: Scope::Part(name),
        from,
        to,
    }
}

const fn file(path: &'static str, from: &'static str, to: &'static str) -> Rename {
    Rename {
        scope: Scope::File(path),
        from,
        to,
    }
}

/// Every redirection. The `to` functions are defined in `simd/`.
// One rename per line reads as a table; rustfmt would spread each over five.
#[rustfmt::skip]
pub const RENAMES: &[Rename] = &[
    // Motion compensation: both codecs call common's InitMcFunc (defined in
    // common/src/mc.cpp); the wrapper calls it, then sets SIMD kernels.
    part("decoder", "InitMcFunc", "FramechainSimdInitMcFunc"),
    part("encoder", "InitMcFunc", "FramechainSimdInitMcFunc"),
    // Deblocking: both codecs' DeblockingInit take common's C edge filters
    // (common/src/deblocking_common.cpp); ours are in simd/common/deblock.cpp.
    part("decoder", "DeblockLumaLt4V_c", "FramechainSimdDeblockLumaLt4V"),
    part("decoder", "DeblockLumaLt4H_c", "FramechainSimdDeblockLumaLt4H"),
    part("decoder", "DeblockLumaEq4V_c", "FramechainSimdDeblockLumaEq4V"),
    part("decoder", "DeblockLumaEq4H_c", "FramechainSimdDeblockLumaEq4H"),
    part("decoder", "DeblockChromaLt4V_c", "FramechainSimdDeblockChromaLt4V"),
    part("decoder", "DeblockChromaLt4H_c", "FramechainSimdDeblockChromaLt4H"),
    part("decoder", "DeblockChromaEq4V_c", "FramechainSimdDeblockChromaEq4V"),
    part("decoder", "DeblockChromaEq4H_c", "FramechainSimdDeblockChromaEq4H"),
    part("encoder", "DeblockLumaLt4V_c", "FramechainSimdDeblockLumaLt4V"),
    part("encoder", "DeblockLumaLt4H_c", "FramechainSimdDeblockLumaLt4H"),
    part("encoder", "DeblockLumaEq4V_c", "FramechainSimdDeblockLumaEq4V"),
    part("encoder", "DeblockLumaEq4H_c", "FramechainSimdDeblockLumaEq4H"),
    part("encoder", "DeblockChromaLt4V_c", "FramechainSimdDeblockChromaLt4V"),
    part("encoder", "DeblockChromaLt4H_c", "FramechainSimdDeblockChromaLt4H"),
    part("encoder", "DeblockChromaEq4V_c", "FramechainSimdDeblockChromaEq4V"),
    part("encoder", "DeblockChromaEq4H_c", "FramechainSimdDeblockChromaEq4H"),
    // Decoder inverse transforms plus prediction: InitPredFunc in decoder.cpp
    // takes the C ones (defined in decode_mb_aux.cpp); ours are in
    // simd/decoder/idct.cpp.
    file(
        "codec/decoder/core/src/decoder.cpp",
        "IdctResAddPred_c",
        "FramechainSimdIdctResAddPred",
    ),
    file(
        "codec/decoder/core/src/decoder.cpp",
        "IdctResAddPred8x8_c",
        "FramechainSimdIdctResAddPred8x8",
    ),
    // Encoder kernels (SAD, SATD, DCT, quantisation, reconstruction): the
    // wrapper in simd/encoder/hooks.cpp calls InitFunctionPointers (encoder.cpp),
    // then sets SIMD kernels in the table.
    file(
        "codec/encoder/core/src/encoder_ext.cpp",
        "InitFunctionPointers",
        "FramechainSimdInitFunctionPointers",
    ),
    // Scene change detection's 8x8 SAD (its choice of kernel is inline in
    // SceneChangeDetection.h, seen by two files of the part).
    part(
        "processing",
        "WelsSampleSad8x8_c",
        "FramechainSimdProcessingSad8x8",
    ),
    // Pre-processing's per-frame SAD statistics (background detection).
    file(
        "codec/processing/src/vaacalc/vaacalculation.cpp",
        "VAACalcSadBgd_c",
        "FramechainSimdVAACalcSadBgd",
    ),
];

/// The part-wide renames of `part`.
pub fn part_renames(part: &str) -> impl Iterator<Item = &'static Rename> {
    RENAMES
        .iter()
        .filter(move |r| matches!(r.scope, Scope::Part(p) if p == part))
}

/// The renames of one source file, `path` relative to the source root.
pub fn file_renames(path: &str) -> impl Iterator<Item = &'static Rename> {
    RENAMES
        .iter()
        .filter(move |r| matches!(r.scope, Scope::File(f) if f == path))
}

/// Our SIMD sources for `part` (`simd/<part>/*.cpp`), sorted.
pub fn sources(manifest: &Path, part: &str) -> Vec<PathBuf> {
    let dir = manifest.join("simd").join(part);
    println!("cargo:rerun-if-changed={}", manifest.join("simd").display());
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "cpp"))
        .collect();
    files.sort();
    files
}

/// Panics if a file-scoped rename names a file that is not in the source
/// tree: after an OpenH264 update the hook would silently stop applying.
pub fn check_files(src: &Path) {
    for rename in RENAMES {
        if let Scope::File(path) = rename.scope {
            assert!(
                src.join(path).is_file(),
                "simd rename {} -> {}: {path} is not in {}",
                rename.from,
                rename.to,
                src.display()
            );
        }
    }
}
