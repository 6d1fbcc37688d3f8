//! OpenH264's x86 assembly (SSE2 to AVX2, picked at run time by CPU
//! detection) for native x86-64 Linux builds, assembled with `nasm`.
//!
//! Native builds are what the host's optional native encoder
//! (`encode-h264 accel=native`) runs; the assembly makes it about three
//! times faster than the portable C++. wasm builds never use it. When
//! `nasm` is missing the build goes on with the portable C++ and says so
//! (a cargo warning); `FRAMECHAIN_OPENH264_NO_ASM=1` asks for that
//! explicitly, and `FRAMECHAIN_NASM` names another assembler binary.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// Set to any value: build the portable C++ only.
pub const NO_ASM_ENV: &str = "FRAMECHAIN_OPENH264_NO_ASM";

/// The assembler to run (default `nasm`).
pub const NASM_ENV: &str = "FRAMECHAIN_NASM";

/// Where each part's assembly lives, by part name (see `PARTS` in main.rs).
/// `asm_inc.asm` is the macro header the others include, not a unit.
const ASM_DIRS: &[(&str, &str)] = &[
    ("common", "codec/common/x86"),
    ("processing", "codec/processing/src/x86"),
    ("decoder", "codec/decoder/core/x86"),
    ("encoder", "codec/encoder/core/x86"),
];

/// The assembled objects of every part, by part name; empty when this
/// build uses no assembly.
pub struct AsmObjects {
    parts: Vec<(&'static str, Vec<PathBuf>)>,
}

impl AsmObjects {
    pub fn none() -> AsmObjects {
        AsmObjects { parts: Vec::new() }
    }

    /// True when the C++ must be compiled with `X86_ASM` (and `HAVE_AVX2`)
    /// so that it calls the assembly.
    pub fn enabled(&self) -> bool {
        !self.parts.is_empty()
    }

    pub fn for_part(&self, name: &str) -> &[PathBuf] {
        self.parts
            .iter()
            .find(|(part, _)| *part == name)
            .map(|(_, objects)| objects.as_slice())
            .unwrap_or(&[])
    }
}

/// Assembles OpenH264's x86 sources if this is a native x86-64 Linux build
/// and `nasm` runs; otherwise returns no objects.
pub fn assemble(src: &Path, out_dir: &Path) -> AsmObjects {
    println!("cargo:rerun-if-env-changed={NO_ASM_ENV}");
    println!("cargo:rerun-if-env-changed={NASM_ENV}");
    let none = AsmObjects::none();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    // elf64 objects with the System V calling convention (UNIX64).
    if arch != "x86_64" || os != "linux" || std::env::var_os(NO_ASM_ENV).is_some() {
        return none;
    }
    let nasm = std::env::var(NASM_ENV).unwrap_or_else(|_| "nasm".to_owned());
    if !Command::new(&nasm)
        .arg("-v")
        .output()
        .is_ok_and(|out| out.status.success())
    {
        println!(
            "cargo:warning=`{nasm}` not found: OpenH264 is built without its x86 assembly, \
             so the native encoder is about 3x slower (install Debian's nasm; scripts/setup.sh does)"
        );
        return none;
    }

    let include = src.join("codec/common/x86");
    let obj_dir = out_dir.join("asm");
    std::fs::create_dir_all(&obj_dir).expect("create asm object dir");
    let mut units = Vec::new();
    for (part, dir) in ASM_DIRS {
        let dir = src.join(dir);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
            .flatten()
            .map(|entry| entry.path())
            .filter(|p| p.extension().is_some_and(|e| e == "asm"))
            .filter(|p| p.file_name().is_some_and(|n| n != "asm_inc.asm"))
            .collect();
        files.sort();
        for file in files {
            // The encoder and decoder both have a dct.asm: prefix the part.
            let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
            let object = obj_dir.join(format!("{part}_{stem}.o"));
            units.push((*part, file, object));
        }
    }

    // A few assemblers at a time: cargo's job count, as cc uses.
    let jobs = std::env::var("NUM_JOBS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(2)
        .max(1);
    for batch in units.chunks(jobs) {
        let children: Vec<(Child, &Path)> = batch
            .iter()
            .map(|(_, file, object)| {
                let child = Command::new(&nasm)
                    .args(["-f", "elf64", "-DUNIX64", "-DHAVE_AVX2"])
                    // nasm wants the trailing separator on include paths.
                    .arg(format!("-I{}/", include.display()))
                    .arg("-o")
                    .arg(object)
                    .arg(file)
                    .spawn()
                    .unwrap_or_else(|e| panic!("run {nasm}: {e}"));
                (child, file.as_path())
            })
            .collect();
        for (mut child, file) in children {
            let status = child.wait().expect("wait for nasm");
            assert!(status.success(), "{nasm} failed on {}", file.display());
        }
    }

    let mut parts: Vec<(&'static str, Vec<PathBuf>)> = Vec::new();
    for (part, _, object) in units {
        match parts.iter_mut().find(|(p, _)| *p == part) {
            Some((_, objects)) => objects.push(object),
            None => parts.push((part, vec![object])),
        }
    }
    AsmObjects { parts }
}
