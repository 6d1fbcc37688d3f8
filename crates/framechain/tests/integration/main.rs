//! Integration tests of the host with real stage components running in
//! wasmtime. One test binary for all of them (as wasmtime does), so the
//! components are compiled once per run.
//!
//! The components are found through `FRAMECHAIN_STAGE_PATH` (set by
//! `cargo xtask test`) or in `target/stages` and `target/test-stages`.

mod chain_checks;
mod compile_bomb_gen;
mod compile_bombs;
mod fair_share;
mod h264;
mod hostile;
mod isolation;
mod limits;
mod live;
mod native_encoder;
mod pipelining;
mod precompiled;
mod redact_scale;
mod stage_names;
mod support;
mod swap;
mod warm;
