//! Compile bombs (issue 17, finding 3): components made of long
//! straight-line functions that never run. Shared by the host's
//! integration tests and the CLI's (crates/framechain-cli/tests/cli/compile_bombs.rs
//! includes this file by path), so both attack with the same bytes.
//!
//! The bytes are written here rather than with a wasm encoder crate: the
//! format needed is small (one function type, K bodies, a component that
//! instantiates the module) and this keeps the tests free of new
//! dependencies.

#![allow(dead_code, reason = "each test binary uses part of it")]

/// One core module of `functions` functions, each a body of about
/// `body_bytes` bytes of `local.get 0; i32.const 1; i32.add; local.set 0`
/// (7 bytes per round: a long dependent chain Cranelift must keep in SSA
/// form), wrapped as a component that instantiates the module, so that
/// wasmtime compiles every body. The component is valid wasm but not a
/// framechain stage: loading it fails after compiling, if it gets there.
pub fn component(functions: u32, body_bytes: usize) -> Vec<u8> {
    wrap_in_component(&[&core_module(functions, body_bytes)])
}

/// The core module of [`component`].
pub fn core_module(functions: u32, body_bytes: usize) -> Vec<u8> {
    const ROUND: [u8; 7] = [0x20, 0x00, 0x41, 0x01, 0x6a, 0x21, 0x00];
    let rounds = body_bytes / ROUND.len();
    // One local i32, the rounds, then `end`.
    let mut body = vec![0x01, 0x01, 0x7f];
    for _ in 0..rounds {
        body.extend_from_slice(&ROUND);
    }
    body.push(0x0b);

    let mut module = b"\0asm\x01\0\0\0".to_vec();
    // Type section: one type, () -> ().
    section(&mut module, 1, &[0x01, 0x60, 0x00, 0x00]);
    // Function section: every function of type 0.
    let mut functions_section = leb(functions as u64);
    functions_section.extend(std::iter::repeat_n(0x00, functions as usize));
    section(&mut module, 3, &functions_section);
    // Code section.
    let mut code = leb(functions as u64);
    for _ in 0..functions {
        code.extend(leb(body.len() as u64));
        code.extend_from_slice(&body);
    }
    section(&mut module, 10, &code);
    module
}

/// A component holding `modules` as its core modules, and one core
/// instance of each (they have no imports).
pub fn wrap_in_component(modules: &[&[u8]]) -> Vec<u8> {
    let mut component = b"\0asm\x0d\x00\x01\x00".to_vec();
    for module in modules {
        // Core module section (1): the module's bytes as they are.
        section(&mut component, 1, module);
    }
    // Core instance section (2): `instantiate` each module with no
    // arguments.
    let mut instances = leb(modules.len() as u64);
    for index in 0..modules.len() {
        instances.push(0x00);
        instances.extend(leb(index as u64));
        instances.push(0x00);
    }
    section(&mut component, 2, &instances);
    component
}

fn section(out: &mut Vec<u8>, id: u8, content: &[u8]) {
    out.push(id);
    out.extend(leb(content.len() as u64));
    out.extend_from_slice(content);
}

fn leb(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}
