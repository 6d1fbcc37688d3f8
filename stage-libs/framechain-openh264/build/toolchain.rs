//! Compiler settings for C++ that goes into a wasm32-wasip2 component.
//!
//! Rust has no C++ toolchain for wasm32-wasip2, so we use Debian's clang-19
//! with Debian's wasi-libc, libc++ and libc++abi for wasm32 (packages
//! clang-19 lld-19 wasi-libc libc++-19-dev-wasm32 libc++abi-19-dev-wasm32
//! libclang-rt-19-dev-wasm32). The objects are linked by rustc together with
//! Rust's own wasi-libc, which is ABI compatible for what OpenH264 uses.

use std::path::{Path, PathBuf};

/// Debian's multiarch directories for the wasm32-wasi sysroot.
const WASI_INCLUDE: &str = "/usr/include/wasm32-wasi";
const WASI_LIB: &str = "/usr/lib/wasm32-wasi";

/// Lets a build point at another clang (e.g. a wasi-sdk install).
pub const CXX_ENV: &str = "FRAMECHAIN_WASM_CXX";

/// Extra clang flags for OpenH264's wasm build, after ours (for
/// experiments with code generation; see docs/performance.md).
pub const CFLAGS_ENV: &str = "FRAMECHAIN_WASM_CFLAGS";

/// Inlining and unrolling past clang's wasm defaults. Every call and every
/// loop iteration in wasmtime's code pays a stack-limit or epoch check
/// and, past four arguments, loads from the stack that wait for the
/// caller's stores; fewer of them is 2.8 % fewer instructions per frame of
/// the transcoding chain (callgrind, docs/performance.md), for 6 % more
/// wasm. Higher thresholds gave 0.15 % more for 8 % more.
const LLVM_OPTIONS: &[&str] = &[
    "-inline-threshold=600",
    "-unroll-threshold=600",
    "-unroll-allow-partial",
    "-unroll-runtime",
];

/// Lets a build point at another archiver.
pub const AR_ENV: &str = "FRAMECHAIN_WASM_AR";

/// Archivers that write a symbol index for wasm objects, which wasm-ld
/// needs; GNU ar does not understand wasm and would write none. Debian's
/// `llvm` package (llvm-ar, in the base image) or `llvm-19` provide one.
const ARCHIVERS: &[&str] = &[
    "llvm-ar-19",
    "llvm-ar",
    "llvm-ar-18",
    "llvm-ar-17",
    "llvm-ar-16",
    "llvm-ar-15",
    "llvm-ar-14",
];

/// Archives from the Debian sysroot that the component needs, copied into
/// OUT_DIR so that rustc's link line does not see Debian's older libc.a
/// (it must use the wasi-libc that ships with Rust).
const SYSROOT_LIBS: &[&str] = &["c++", "c++abi", "wasi-emulated-getpid"];

/// Sets up `build` to compile C++ for wasm32-wasip2.
pub fn configure_wasm(build: &mut cc::Build, shim_include: &Path) {
    println!("cargo:rerun-if-env-changed={CXX_ENV}");
    let cxx = std::env::var(CXX_ENV).unwrap_or_else(|_| "clang++-19".to_string());
    build
        .compiler(cxx)
        .archiver(archiver())
        // The C++ runtime is linked once, explicitly (link_wasm_runtime),
        // not by cc for every part.
        .cpp_link_stdlib(None)
        // cc passes --target=wasm32-wasip2; Debian's clang-19 has no sysroot
        // for that triple and would fall back to the host's glibc headers.
        // The later flag wins.
        .flag("--target=wasm32-wasi")
        // Search only the wasi sysroot, never /usr/include (glibc).
        .flag("-nostdlibinc")
        .flag(format!("-isystem{WASI_INCLUDE}/c++/v1"))
        .flag(format!("-idirafter{WASI_INCLUDE}"))
        // Our stand-ins for pthread.h, semaphore.h, sys/sysctl.h come first.
        .include(shim_include)
        // wasm32 has no exception support in this toolchain; OpenH264 does
        // not use exceptions.
        .flag("-fno-exceptions")
        // OpenH264 includes <signal.h>, which wasi-libc only offers emulated.
        .define("_WASI_EMULATED_SIGNAL", None)
        // 128-bit SIMD: clang auto-vectorises OpenH264's C loops (~19% faster
        // encoding measured at 1080p). wasmtime enables SIMD by default.
        .flag("-msimd128")
        // The other features Rust's wasm32 targets enable by default, which
        // clang-19's generic CPU lacks: memcpy/memset become memory.copy /
        // memory.fill instructions instead of calls into libc's loops.
        .flag("-mbulk-memory")
        .flag("-mnontrapping-fptoint")
        .flag("-msign-ext");
    for option in LLVM_OPTIONS {
        build.flag("-mllvm").flag(option);
    }
    println!("cargo:rerun-if-env-changed={CFLAGS_ENV}");
    if let Ok(flags) = std::env::var(CFLAGS_ENV) {
        for flag in flags.split_whitespace() {
            build.flag(flag);
        }
    }
}

fn archiver() -> String {
    println!("cargo:rerun-if-env-changed={AR_ENV}");
    if let Ok(ar) = std::env::var(AR_ENV) {
        return ar;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    ARCHIVERS
        .iter()
        .find(|name| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
        .map(|name| name.to_string())
        .unwrap_or_else(|| {
            panic!("no llvm-ar found (tried {ARCHIVERS:?}): install Debian's `llvm` or `llvm-19`, or set {AR_ENV}")
        })
}

/// Makes the wasm C++ runtime libraries available to the final link.
pub fn link_wasm_runtime(out_dir: &Path) {
    let lib_dir = out_dir.join("wasi-sysroot-libs");
    std::fs::create_dir_all(&lib_dir).expect("create wasi-sysroot-libs");
    for name in SYSROOT_LIBS {
        let file = format!("lib{name}.a");
        let from = find_lib(&file);
        std::fs::copy(&from, lib_dir.join(&file))
            .unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
        println!("cargo:rustc-link-lib=static={name}");
    }
    println!("cargo:rustc-link-search=native={}", lib_dir.display());
}

fn find_lib(file: &str) -> PathBuf {
    let candidates = [
        Path::new(WASI_LIB).join(file),
        Path::new("/usr/lib/llvm-19/lib/wasm32-wasi").join(file),
    ];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "{file} not found in {WASI_LIB}: install the Debian packages wasi-libc \
             libc++-19-dev-wasm32 libc++abi-19-dev-wasm32 (scripts/setup.sh does)"
            )
        })
}
