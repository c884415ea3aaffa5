//! Builds the ptrace shim that lets user-mode Linux run on hosts with large XSAVE state
//! (see src/sandbox/xstate_shim.c); the sandbox runner embeds it.

fn main() {
    let source = "src/sandbox/xstate_shim.c";
    println!("cargo:rerun-if-changed={source}");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("xstate_shim.so");
    let compiler = cc::Build::new().get_compiler();
    let status = compiler
        .to_command()
        .args(["-shared", "-fPIC", "-O2", "-Wall", "-o"])
        .arg(&out)
        .arg(source)
        .arg("-ldl")
        .status()
        .expect("a C compiler runs (the one Rust links with)");
    assert!(status.success(), "compiling {source} failed");
}
