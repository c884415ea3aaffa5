//! The `lab` binary: parses arguments, runs one verb, prints an error (what, why, hint) once.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = lab::cli::Args::parse();
    lab::kernel::raise_fd_limit();
    match lab::cli::run(args) {
        Ok(verdict) => verdict.into(),
        Err(error) => {
            use std::io::Write;
            let _ = writeln!(std::io::stderr().lock(), "error: {}", error.report());
            lab::cli::Verdict::Invalid.into()
        }
    }
}
