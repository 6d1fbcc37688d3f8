//! Compiles OpenH264 (from the openh264-sys2 registry copy, see locate.rs)
//! and framechain's C shim into static libraries for this crate.
//!
//! For wasm32 targets the code is built with clang-19 against the wasi
//! sysroot (toolchain.rs). For the host it is built with the default C++
//! compiler, so that the codec can be tested natively without wasmtime and
//! the host can offer a native encoder; on x86-64 Linux with OpenH264's
//! assembly too (asm.rs).

mod asm;
mod locate;
mod simd;
mod toolchain;

use std::path::{Path, PathBuf};

/// One of OpenH264's sub-libraries: where its sources are and which private
/// include directories it needs. The encoder and decoder have headers of the
/// same names, so each part is compiled with its own include path.
struct Part {
    name: &'static str,
    sources: &'static [&'static str],
    includes: &'static [&'static str],
}

const PARTS: &[Part] = &[
    Part {
        name: "common",
        sources: &["codec/common/src"],
        includes: &[],
    },
    Part {
        name: "processing",
        sources: &["codec/processing/src"],
        includes: &["codec/processing/src/common", "codec/processing/interface"],
    },
    Part {
        name: "decoder",
        sources: &["codec/decoder/core/src", "codec/decoder/plus/src"],
        includes: &["codec/decoder/core/inc", "codec/decoder/plus/inc"],
    },
    Part {
        name: "encoder",
        sources: &["codec/encoder/core/src", "codec/encoder/plus/src"],
        includes: &[
            "codec/encoder/core/inc",
            "codec/encoder/plus/inc",
            "codec/processing/interface",
        ],
    },
];

/// Sources that must not be compiled: the Windows DLL entry point.
const SKIP: &[&str] = &["DllEntry.cpp"];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let wasm = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap() == "wasm32";
    let shim = manifest.join("shim");
    println!("cargo:rerun-if-changed={}", shim.display());

    let src = locate::openh264_source();
    if wasm {
        simd::check_files(&src);
    }
    let asm = if wasm {
        asm::AsmObjects::none()
    } else {
        asm::assemble(&src, &out_dir)
    };
    // `framechain_openh264::NATIVE_ASM` tells tests and benchmarks which
    // build they measure.
    println!("cargo::rustc-check-cfg=cfg(framechain_openh264_asm)");
    if asm.enabled() {
        println!("cargo:rustc-cfg=framechain_openh264_asm");
    }

    for part in PARTS {
        let mut build = base_build(wasm, &shim, &src);
        if asm.enabled() {
            // OpenH264 calls its assembly (chosen per CPU at run time) only
            // when compiled with these.
            build.define("X86_ASM", None).define("HAVE_AVX2", None);
            build.objects(asm.for_part(part.name));
        }
        for include in part.includes {
            build.include(src.join(include));
        }
        let mut files: Vec<PathBuf> = part
            .sources
            .iter()
            .flat_map(|dir| cpp_files(&src.join(dir)))
            .collect();
        if wasm {
            for rename in simd::part_renames(part.name) {
                build.define(rename.from, rename.to);
            }
            build.include(manifest.join("simd"));
            // Files with renames of their own are compiled apart, with the
            // part's settings plus those renames.
            let mut plain = Vec::new();
            for file in files {
                let relative = file
                    .strip_prefix(&src)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                let mut renames = simd::file_renames(&relative).peekable();
                if renames.peek().is_none() {
                    plain.push(file);
                    continue;
                }
                let mut own = build.clone();
                for rename in renames {
                    own.define(rename.from, rename.to);
                }
                let objects = own.file(&file).compile_intermediates();
                build.objects(objects);
            }
            files = plain;
            files.extend(simd::sources(&manifest, part.name));
        }
        build.files(files);
        build.compile(&format!("framechain_openh264_{}", part.name));
    }

    let mut build = base_build(wasm, &shim, &src);
    build.file(shim.join("openh264_c.cpp"));
    build.compile("framechain_openh264_shim");

    if wasm {
        toolchain::link_wasm_runtime(&out_dir);
    }
}

/// Settings shared by every part.
fn base_build(wasm: bool, shim: &Path, src: &Path) -> cc::Build {
    let mut build = cc::Build::new();
    build.cpp(true).warnings(false);
    if wasm {
        toolchain::configure_wasm(&mut build, &shim.join("wasi"));
    }
    build
        .include(src.join("codec/api/wels"))
        .include(src.join("codec/common/inc"))
        // A codec is unusably slow unoptimised; debug builds of the stages
        // still get an optimised OpenH264.
        .opt_level(3)
        .debug(false)
        // Upstream's own build sets these; OpenH264 relies on them.
        .flag_if_supported("-fno-strict-aliasing")
        .flag_if_supported("-fno-common");
    build
}

/// The `.cpp` files directly in `dir` and its subdirectories, sorted so the
/// archive is the same on every machine. Assembly and the per-CPU C files
/// (mips, loongarch) are not `.cpp` and are left out: we build the portable
/// C++ paths only.
fn cpp_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("read {}: {e}", d.display()));
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "cpp")
                && !SKIP
                    .iter()
                    .any(|s| path.file_name().is_some_and(|n| n == *s))
            {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}
